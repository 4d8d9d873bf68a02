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


_SHIFT_30, _SHIFT_27, _SHIFT_31, _SHIFT_11 = (np.uint64(n) for n in (30, 27, 31, 11))
_TO_UNIT = 1.0 / (1 << 53)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, in place on a fresh uint64 array (one scratch array for the shifts)."""
    shifted = np.empty_like(x)
    x += _GOLDEN
    x ^= np.right_shift(x, _SHIFT_30, out=shifted)
    x *= _M1
    x ^= np.right_shift(x, _SHIFT_27, out=shifted)
    x *= _M2
    x ^= np.right_shift(x, _SHIFT_31, out=shifted)
    return x


def uniform_v(keys: np.ndarray | np.uint64, counters: np.ndarray, salt: int) -> np.ndarray:
    """Uniform floats in [0, 1) for (key, counter) pairs (broadcast), one stream per salt.

    uint64 arithmetic wraps modulo 2**64, exactly like the masked Python-int formula of :func:`uniform`.
    The server draws millions of these per second: every step works in place where it can (int64 counters
    are reinterpreted, not copied; the top 53 bits become floats in the final multiplication).
    """
    counters = np.asarray(counters)
    counters = counters.view(np.uint64) if counters.dtype == np.int64 else counters.astype(np.uint64, copy=False)
    with np.errstate(over="ignore"):
        bits = np.asarray(keys, dtype=np.uint64) * _KEY_MUL
        bits += np.uint64((salt * _SALT_MUL) & _MASK)
        if type(bits) is np.ndarray and bits.shape == counters.shape:
            bits ^= counters
        else:  # broadcasting (a key per row against counters per column) or a scalar key
            bits = np.bitwise_xor(bits, counters)
        bits = _splitmix(bits)
    bits >>= _SHIFT_11
    return np.multiply(bits, _TO_UNIT)


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
