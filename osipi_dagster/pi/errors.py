"""Errors raised by the PI Web API client: each names what failed and what PI said.

``transient`` tells callers whether trying the same thing again later can help (a 503, a timeout) or
cannot (bad credentials, an untrusted certificate, a wrong URL): the assets turn permanent errors into
failures that Dagster does not retry.
"""

from __future__ import annotations

import re

# PI's 400 when maxCount exceeds the server's MaxReturnedItemsPerCall, e.g.
# "Parameter 'maxCount' is greater than the maximum allowed (1000)." (docs/pi-web-api.md#server-limits)
_ANNOUNCED_LIMIT = re.compile(r"is greater than the maximum allowed \((\d+)\)")


def announced_limit(status: int | None, errors: list[str]) -> int | None:
    """The MaxReturnedItemsPerCall a server announced in a 400, if that is what it said."""
    if status != 400:
        return None
    match = _ANNOUNCED_LIMIT.search(" ".join(errors))
    return int(match.group(1)) if match else None


class PIWebAPIError(RuntimeError):
    """A PI Web API request failed (after retries, where retrying helps)."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        errors: list[str] | None = None,
        transient: bool | None = None,
    ):
        detail = f" (HTTP {status})" if status is not None else ""
        where = f" [{url}]" if url else ""
        pi = f": {'; '.join(errors)}" if errors else ""
        super().__init__(f"{message}{detail}{where}{pi}")
        self.url = url
        self.status = status
        self.errors = errors or []
        # By default only rate limits and server-side failures may heal by themselves.
        self.transient = transient if transient is not None else status is not None and (status == 429 or status >= 500)

    @property
    def announced_limit(self) -> int | None:
        return announced_limit(self.status, self.errors)


class PIAuthenticationError(PIWebAPIError):
    """401/403: wrong credentials, or an auth method the server does not accept."""


class PIConnectionError(PIWebAPIError):
    """The server cannot be reached in a way that retrying does not fix: unknown host, connection
    refused, TLS certificate not trusted."""


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
        super().__init__(f"{len(failures)} tag(s) failed for {window}: {shown}{more}", transient=True)
