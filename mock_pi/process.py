"""Run the mock PI Web API as a real server process on 127.0.0.1 (tests, demo, benchmarks), and stop it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class MockServer:
    url: str  # …/piwebapi
    process: subprocess.Popen


@contextmanager
def running_mock(
    *args: str, port: int | None = None, startup_timeout: float = 30.0, quiet: bool = True
) -> Iterator[MockServer]:
    """``python -m mock_pi --host 127.0.0.1 --port <port or a free one> *args``; terminated when the block exits."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_pi", "--host", "127.0.0.1", "--port", str(port), *args],
        stdout=subprocess.PIPE if quiet else None,
        stderr=subprocess.STDOUT if quiet else None,
        text=True,
    )
    tls = any(a in ("--tls", "--tls-cert") for a in args)
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/piwebapi"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                output = process.stdout.read() if process.stdout else ""
                raise RuntimeError(f"mock_pi exited early (code {process.returncode}): {output}")
            try:
                if httpx.get(url, timeout=1.0, verify=not tls).status_code in (200, 401):  # TLS: checked by tests
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mock_pi did not answer on {url} within {startup_timeout}s")
            time.sleep(0.1)
        yield MockServer(url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
