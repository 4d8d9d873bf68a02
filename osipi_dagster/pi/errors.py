"""Errors raised by the PI Web API client: each names what failed and what PI said."""

from __future__ import annotations


class PIWebAPIError(RuntimeError):
    """A PI Web API request failed (after retries, where retrying helps)."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None,
                 errors: list[str] | None = None):
        detail = f" (HTTP {status})" if status is not None else ""
        where = f" [{url}]" if url else ""
        pi = f": {'; '.join(errors)}" if errors else ""
        super().__init__(f"{message}{detail}{where}{pi}")
        self.url = url
        self.status = status
        self.errors = errors or []


class PIAuthenticationError(PIWebAPIError):
    """401/403: wrong credentials, or an auth method the server does not accept."""


class PIMalformedResponseError(PIWebAPIError):
    """The server answered 2xx with a body that is not the JSON shape the PI Web API documents."""


class PIInterruptedResponseError(PIWebAPIError):
    """A 2xx response whose body reports a ``WebException``: the server failed while sending it."""


class PIStreamErrors(PIWebAPIError):
    """Some streams (tags) still failed after their individual retries: the window is not complete."""

    def __init__(self, failures: dict[str, str], window: str):
        self.failures = failures
        shown = "; ".join(f"{tag}: {msg}" for tag, msg in list(failures.items())[:10])
        more = f" (+{len(failures) - 10} more)" if len(failures) > 10 else ""
        super().__init__(f"{len(failures)} tag(s) failed for {window}: {shown}{more}")
