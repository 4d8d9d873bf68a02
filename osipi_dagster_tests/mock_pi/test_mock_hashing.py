"""The mock's counter-based randomness: the vectorised draws (``uniform_v``, the server's hot path) against the
plain-integer formula (``uniform1``), so speeding the array version up can never change the mock's data."""

from __future__ import annotations

import numpy as np

from mock_pi.hashing import uniform, uniform1, uniform_v


def test_vectorised_draws_equal_the_plain_integer_formula():
    rng = np.random.default_rng(15)
    keys = rng.integers(0, 2**64, 300, dtype=np.uint64)
    counters = np.concatenate([rng.integers(-(2**62), 2**62, 297), [0, -1, 2**63 - 1]]).astype(np.int64)
    for salt in (0, 3, 52):
        drawn = uniform_v(keys, counters, salt)
        assert drawn.dtype == np.float64 and ((drawn >= 0) & (drawn < 1)).all()
        assert drawn.tolist() == [uniform1(int(k), int(c), salt) for k, c in zip(keys, counters)]
    # a key per row against counters per column (per-site outage blocks), and one key for many counters
    grid = uniform_v(keys[:5, None], counters[None, :7], 1)
    assert grid.tolist() == [[uniform1(int(k), int(c), 1) for c in counters[:7]] for k in keys[:5]]
    assert uniform(int(keys[0]), counters, 9).tolist() == [uniform1(int(keys[0]), int(c), 9) for c in counters]
    unsigned = counters.astype(np.uint64)  # counters given as uint64 draw what their int64 values draw
    assert uniform_v(keys, unsigned, 4).tolist() == uniform_v(keys, counters, 4).tolist()
