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
_KEY_MUL = np.uint64(0x100000001B3)
_SALT_MUL = 0xC2B2AE3D27D4EB4F


def key(*parts: object) -> int:
    """A stable 64-bit key for any tuple of labels (Python's hash() is salted per process)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _splitmix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, in place on a fresh uint64 array (no temporaries but the shifts)."""
    x += _GOLDEN
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def uniform_v(keys: np.ndarray | np.uint64, counters: np.ndarray, salt: int) -> np.ndarray:
    """Uniform floats in [0, 1) for (key, counter) pairs (broadcast), one stream per salt.

    uint64 arithmetic wraps modulo 2**64, exactly like the masked Python-int formula of :func:`uniform`.
    """
    with np.errstate(over="ignore"):
        base = np.asarray(keys, dtype=np.uint64) * _KEY_MUL
        base += np.uint64((salt * _SALT_MUL) & _MASK)
        bits = _splitmix(np.bitwise_xor(np.asarray(counters).astype(np.uint64, copy=False), base))
    bits >>= np.uint64(11)
    out = bits.astype(np.float64)
    out *= 1.0 / (1 << 53)
    return out


def uniform(stream_key: int, counters: np.ndarray, salt: int) -> np.ndarray:
    """Uniform floats in [0, 1), one per counter, for the named stream and salt."""
    return uniform_v(np.uint64(stream_key & _MASK), counters, salt)


def uniform1(stream_key: int, counter: int, salt: int) -> float:
    """:func:`uniform` for one counter, in plain integers (no array overhead for scalar draws)."""
    base = (stream_key * 0x100000001B3 + salt * _SALT_MUL) & _MASK
    x = ((counter & _MASK) ^ base) + 0x9E3779B97F4A7C15 & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    x ^= x >> 31
    return (x >> 11) * (1.0 / (1 << 53))
