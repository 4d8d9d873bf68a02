"""Real server processes for integration tests (S3, PostgreSQL, Dagster): start on 127.0.0.1, wait, stop."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from mock_pi.process import free_port

__all__ = ["free_port", "running", "unavailable", "venv_tool", "wait_until"]


def unavailable(message: str):
    """A server a test needs is not installed: skip on a developer machine, fail on CI (``CI=true``), where
    ``.ci/run`` installs it and a skip would hide a test that never ran."""
    if os.environ.get("CI", "").lower() in ("1", "true"):
        pytest.fail(message)
    pytest.skip(message)


def venv_tool(name: str) -> str:
    """A console script installed next to this Python (moto_server, dagster-daemon, ...)."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed: pip install -e '.[test,postgres]'")
    return found


def wait_until(
    ready: Callable[[], bool],
    what: str,
    timeout: float,
    process: subprocess.Popen | None = None,
    log: Path | None = None,
) -> None:
    """Poll ``ready()`` until true; fail naming ``what`` (with the process's log) on timeout or early exit."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited early (code {process.returncode}):\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready within {timeout:.0f} s:\n{_tail(log)}")
        time.sleep(0.2)


def http_ok(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            return httpx.get(url, timeout=2.0).status_code < 500
        except httpx.TransportError:
            return False

    return ready


def _tail(log: Path | None, lines: int = 40) -> str:
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def running(
    args: list[str], log: Path, env: dict[str, str] | None = None, cwd: str | None = None, stop_timeout: float = 20.0
) -> Iterator[subprocess.Popen]:
    """Start ``args`` (output to ``log``) in a session of its own, yield the process, and when the block exits
    stop the whole process group: SIGTERM, then SIGKILL for whatever is left (children such as a webserver's
    code server or ``dagster dev``'s daemon and runs)."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(process, signal.SIGKILL)
        process.wait()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)  # its own session: the process and the children it started
    except ProcessLookupError:
        pass  # the group is gone
