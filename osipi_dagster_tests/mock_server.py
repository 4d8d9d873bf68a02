"""Moved to :mod:`mock_pi.process` (the demo and benchmarks start the mock too)."""

from mock_pi.process import MockServer, free_port, running_mock  # noqa: F401
