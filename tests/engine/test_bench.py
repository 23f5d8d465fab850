"""`hark bench engine` at the tiny preset: every thread count is measured, the targets use 2 threads."""

import torch

from engine.bench import EngineBenchConfig, format_report, run


def test_engine_bench_measures_each_thread_count_in_one_run():
    before = torch.get_num_threads()
    config = EngineBenchConfig(preset="tiny", batches=[1, 8], dtypes=["float32"], steps=3, warmup=1)
    try:
        report = run(config)
    finally:
        torch.set_num_threads(before)
    assert config.threads == [2, 1]
    assert [(r["threads"], r["batch"]) for r in report["results"]] == [(2, 1), (2, 8), (1, 1), (1, 8)]
    assert all(r["p50_ms"] > 0 and r["rtf"] > 0 for r in report["results"])
    two_threads = [r["p50_ms"] for r in report["results"] if r["threads"] == 2 and r["batch"] == 1]
    assert report["targets"]["batch1_p50_ms"] == min(two_threads)
    assert report["targets"]["batch8_realtime"] is not None
    assert "targets (2 threads)" in format_report(report)
