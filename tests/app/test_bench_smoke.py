"""Smoke versions of `hark bench latency`, `bargein` and `capacity` against a real `hark serve` subprocess
(untrained tiny engine, small random codec): a few turns and seconds each, so the benchmarks cannot rot.
They pin the report's fields, the PNG plots and the sanity of the numbers, not the speed of this machine."""

from __future__ import annotations

import json
import math

import matplotlib.image
import numpy as np
import pytest

from app.bench.latency import breakdown
from app.bench.playback import Chunk, first_sound, played_samples
from app.bench.server_process import ServerProcess
from app.cli import main

SERVER = ["--engine", "random:tiny", "--codec", "random", "--threads", "1", "--max-sessions", "8"]
QUICK = ["--codec", "random", "--gap-s", "0.2", "--synthesizers", "espeak-ng"]


@pytest.fixture(scope="module")
def server_url():
    """One `hark serve` subprocess for the module; it must shut down cleanly (exit 0) afterwards."""
    server = ServerProcess(SERVER)
    url = server.start()
    yield url
    assert server.stop() == 0


def bench(args: list[str], tmp_path, capsys) -> dict:
    """Run `hark bench ...` in-process with --out-dir tmp_path; returns its JSON report."""
    assert main(["bench", *args, "--out-dir", str(tmp_path), "--speech-cache", str(tmp_path / "speech")]) == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / f"{args[0]}.json").read_text())
    assert f"report: {tmp_path / args[0]}.json" in printed
    for path in report["plots"]:
        image = matplotlib.image.imread(path)  # fails on anything but a valid image
        assert path.endswith(".png") and image.shape[0] > 100 and image.shape[1] > 100
    return report


def sane(value) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def test_latency_smoke(server_url, tmp_path, capsys):
    """Both modes answer every turn; latency and its stages are positive, finite and add up."""
    report = bench(
        ["latency", "--url", server_url, "--turns", "2", "--max-response-steps", "8", *QUICK],
        tmp_path,
        capsys,
    )
    assert set(report["modes"]) == {"pcm", "tokens"} and report["machine"]["cpus"] >= 1
    for result in report["modes"].values():
        assert result["answered"] == 2 and result["latency_ms"]["n"] == 2
        assert sane(result["latency_ms"]["p50"]) and result["latency_ms"]["max"] < 10_000
        for turn in result["turns"]:
            parts = turn["breakdown_ms"]
            assert all(parts[s] >= 0 for s in ("encode", "engine", "decode"))
            assert sum(parts.values()) == pytest.approx(turn["latency_ms"], abs=0.5)
            assert 0 < turn["first_audio_arrival_ms"] <= turn["latency_ms"] + 0.1
        assert result["server_session"]["codec"]["num_codebooks"] == 4


def test_latency_starts_its_own_server(tmp_path, capsys):
    """Without --url the benchmark starts `hark serve` itself, measures through it and stops it."""
    args = ["latency", *SERVER[:6], "--modes", "pcm", "--turns", "1", "--max-response-steps", "4", *QUICK[2:]]
    report = bench(args, tmp_path, capsys)
    assert report["server"]["started_here"] and report["modes"]["pcm"]["answered"] == 1
    assert report["modes"]["pcm"]["cpu"]["server_cores"] > 0


def test_bargein_smoke(server_url, tmp_path, capsys):
    """Interrupted responses are cancelled (turn_detected); timings are sane; the truncation is confirmed."""
    args = ["bargein", "--url", server_url, "--turns", "2", "--interrupt-after-ms", "150", "400", *QUICK]
    result = bench(args, tmp_path, capsys)["modes"]["pcm"]
    assert result["interrupted"] >= 1 and result["errors"] == 0
    for turn in (t for t in result["turns"] if t["interrupted"]):
        assert turn["status"] == "cancelled" and turn["reason"] == "turn_detected"
        # the last audio may precede the onset: VAD can cancel before the engine's next step is due
        assert -200 < turn["onset_to_last_audio_ms"] < 3000 and 0 < turn["onset_to_done_ms"] < 3000
        assert turn["onset_to_playback_end_ms"] > turn["onset_to_last_audio_ms"]  # the last chunk still plays
        assert turn["onset_to_speech_started_ms"] > 0
        assert sane(turn["server_onset_to_cancel_ms"])
        assert turn["truncate_ok"] and turn["truncated_ms"] == turn["played_ms"] <= turn["received_ms"]
    assert result["truncate_ok"] == result["interrupted"]


def test_capacity_smoke(server_url, tmp_path, capsys):
    """A short ramp per mode: lags measured, CPU accounted, verdicts consistent with their reasons."""
    args = ["capacity", "--url", server_url, "--sessions", "1", "2", "--ramp-hold-s", "2.5", "--hold-s", "3"]
    args += ["--warmup-s", "1", "--max-response-steps", "12", "--questions", "2", *QUICK]
    report = bench(args, tmp_path, capsys)
    for result in report["modes"].values():
        assert 1 <= result["max_realtime_sessions"] <= 2
        for level in result["levels"] + result["confirm"]:
            assert level["lag_ms"]["n"] > 0 and math.isfinite(level["lag_ms"]["p95"])
            assert level["realtime"] == (not level["reasons"])
            assert level["cpu"]["machine_busy_cores"] > 0 and level["cpu"]["server_cores"] is None  # --url


def test_player_simulation():
    """A player queues chunks back to back: first sound and played samples follow the arrival times."""
    quiet, loud = np.zeros(1280, np.float32), np.full(1280, 0.5, np.float32)
    loud[:640] = 0.0
    chunks = [Chunk(10.0, 1280, quiet), Chunk(10.01, 1280, loud)]  # the second arrives while the first plays
    start_second = 10.0 + 1280 / 24000
    assert first_sound(chunks, 0.01) == pytest.approx(start_second + 640 / 24000)
    assert played_samples(chunks, 10.0 + 0.5 * 1280 / 24000) == 640
    assert played_samples(chunks, 100.0) == 2560


def test_breakdown_sums_to_latency():
    """The stage split takes the server's stages and leaves what is left as the rest."""
    metrics = {
        "latency_ms": {"input_end_to_first_audio": 40.0, "request_to_first_audio": 45.0},
        "stages_ms": {"encode": {"p50": 5.0}, "engine": {"p50": 10.0}, "decode": {"p50": 4.0}},
    }
    parts = breakdown(100.0, metrics, "client", "pcm")
    assert parts == {"encode": 5.0, "engine": 41.0, "decode": 4.0, "rest": 50.0}
