"""Stream statistics stay bounded over a long run and report the same percentiles as the exact computation."""
from __future__ import annotations

import numpy as np

from sspnet.runtime.stats import STAGES, StreamStats, percentiles


def test_summary_percentiles_in_fixed_memory():
    rng = np.random.default_rng(0)
    values = rng.lognormal(3.0, 1.0, 50_000)
    stats = StreamStats()
    sizes = []
    for i, v in enumerate(values):
        stats.record({s: float(v) for s in STAGES}, 1)
        if i in (999, len(values) - 1):
            sizes.append(sum(h.counts.nbytes for h in stats._all.values()))
    assert sizes[0] == sizes[1]                                  # an hour costs what a minute costs
    got, exact = stats.summary()["latency_ms"]["infer"], percentiles(values, (50, 90, 99))
    for q in ("p50", "p90", "p99"):
        assert abs(got[q] - exact[q]) <= 0.005 * exact[q], (q, got[q], exact[q])
    assert abs(got["mean"] - values.mean()) <= 0.01
