"""Counter-based randomness: every random choice of the mock is a hash of what it is about.

A value at (seed, tag, sample index) never depends on what was asked before, so any window of any tag
can be generated on its own, by any worker process, and tests can compute the exact expected points.
"""

from __future__ import annotations

import hashlib

import numpy as np

_MASK = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def key(*parts: object) -> int:
    """A stable 64-bit key for any tuple of labels (Python's hash() is salted per process)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def uniform(stream_key: int, counters: np.ndarray, salt: int) -> np.ndarray:
    """Uniform floats in [0, 1), one per counter, for the named stream and salt."""
    base = np.uint64((stream_key * 0x100000001B3 + salt * 0xC2B2AE3D27D4EB4F) & _MASK)
    with np.errstate(over="ignore"):
        bits = _splitmix(counters.astype(np.uint64) ^ base)
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def uniform1(stream_key: int, counter: int, salt: int) -> float:
    return float(uniform(stream_key, np.array([counter], dtype=np.int64), salt)[0])
