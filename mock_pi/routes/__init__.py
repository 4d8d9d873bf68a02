"""HTTP routes of the mock PI Web API, one module per controller family; each exposes ``register``."""
