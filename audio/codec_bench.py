"""Benchmark of the streaming codec: encode + decode cost per chunk of 1, 2, 4... frames (`hark bench codec`).

Each chunk of speech-like audio goes through a `StreamingEncoder` and its codes straight through a
`StreamingDecoder`, as in a live session. Reported per chunk size: wall-clock milliseconds per call
(p50/p95/max; encode, decode and both), the process CPU time per call (all threads; less disturbed by
other load than wall time), and the real-time factor `p50 total / chunk duration` (below 1 keeps up
with real time; the target for 4 frames, 53 ms of audio, is 20 ms: 0.38).

Module imports stay light (torch is imported inside `run`) so `hark --help` stays fast.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class CodecBenchConfig:
    """Settings of `hark bench codec` (field names are its flags)."""

    codec: str | None = field(default=None, metadata={"help": "codec checkpoint; default: as load_codec"})
    random: bool = field(default=False, metadata={"help": "time a random-init codec of the default config"})
    kbps: float = field(default=3.0, metadata={"help": "bitrate"})
    threads: int = field(default=2, metadata={"help": "torch CPU threads"})
    chunks: list[int] = field(default_factory=lambda: [1, 2, 4], metadata={"help": "frames per call"})
    seconds: float = field(default=8.0, metadata={"help": "audio streamed per chunk size"})
    warmup: int = field(default=5, metadata={"help": "untimed calls before measuring"})


CONFIG = CodecBenchConfig  # the settings `hark bench codec` turns into flags (see app/commands/bench.py)


def _test_signal(samples: int, sample_rate: int) -> np.ndarray:
    """Seeded speech-like audio: a gliding harmonic tone with syllable-rate amplitude and a little noise."""
    rng = np.random.default_rng(0)
    t = np.arange(samples) / sample_rate
    pitch = 120 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    return (0.1 * voice * envelope + 0.005 * rng.standard_normal(samples)).astype(np.float32)


def _stats(values_ms: list[float]) -> dict[str, float]:
    v = np.asarray(values_ms)
    return {
        "p50": round(float(np.percentile(v, 50)), 3),
        "p95": round(float(np.percentile(v, 95)), 3),
        "max": round(float(v.max()), 3),
    }


def _time_chunks(codec: Any, frames: int, signal: np.ndarray, warmup: int) -> dict[str, Any]:
    """Stream `signal` in chunks of `frames` frames; per-call timings in milliseconds."""
    chunk = frames * codec.frame_size
    encoder, decoder = codec.stream_encoder(), codec.stream_decoder()
    encode_ms, decode_ms, total_ms, cpu_ms = [], [], [], []
    for i, start in enumerate(range(0, len(signal) - chunk + 1, chunk)):
        cpu0, t0 = time.process_time(), time.perf_counter()
        codes = encoder.encode(signal[start : start + chunk])
        t1 = time.perf_counter()
        decoder.decode(codes)
        t2, cpu1 = time.perf_counter(), time.process_time()
        if i >= warmup:
            encode_ms.append(1e3 * (t1 - t0))
            decode_ms.append(1e3 * (t2 - t1))
            total_ms.append(1e3 * (t2 - t0))
            cpu_ms.append(1e3 * (cpu1 - cpu0))
    chunk_ms = 1e3 * chunk / codec.sample_rate
    total = _stats(total_ms)
    return {
        "chunk_frames": frames,
        "chunk_ms": round(chunk_ms, 3),
        "calls": len(total_ms),
        "encode_ms": _stats(encode_ms),
        "decode_ms": _stats(decode_ms),
        "total_ms": total,
        "process_cpu_ms": _stats(cpu_ms),
        "rtf_p50": round(total["p50"] / chunk_ms, 4),
    }


def run(config: CodecBenchConfig) -> dict[str, Any]:
    """Time streaming encode + decode for each chunk size; returns the JSON-ready report."""
    import torch

    from audio.codec import build_codec, load_codec
    from audio.codec_config import CodecConfig, config_to_json

    torch.set_num_threads(config.threads)
    codec = (
        build_codec(CodecConfig(), config.kbps) if config.random else load_codec(config.codec, config.kbps)
    )
    seconds_needed = max(config.chunks) * codec.frame_size * (config.warmup + 3) / codec.sample_rate
    signal = _test_signal(int(max(config.seconds, seconds_needed) * codec.sample_rate), codec.sample_rate)
    results = [_time_chunks(codec, frames, signal, config.warmup) for frames in config.chunks]
    return {
        "benchmark": "codec",
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "cpus": _cpu_count(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "codec": {
            "weights": "random" if config.random else (codec.checkpoint_sha256 or "?"),
            "kbps": codec.kbps,
            "num_codebooks": codec.num_codebooks,
            "config": config_to_json(codec.config),
        },
        "seconds_per_chunk_size": round(len(signal) / codec.sample_rate, 3),
        "results": results,
    }


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)


def format_report(report: dict[str, Any]) -> str:
    """A short table of the report for the terminal."""
    columns = [  # (header, value of one result row)
        ("frames", lambda r: f"{r['chunk_frames']}"),
        ("chunk ms", lambda r: f"{r['chunk_ms']:.1f}"),
        ("enc p50", lambda r: f"{r['encode_ms']['p50']:.2f}"),
        ("dec p50", lambda r: f"{r['decode_ms']['p50']:.2f}"),
        ("p50", lambda r: f"{r['total_ms']['p50']:.2f}"),
        ("p95", lambda r: f"{r['total_ms']['p95']:.2f}"),
        ("cpu p50", lambda r: f"{r['process_cpu_ms']['p50']:.2f}"),
        ("RTF", lambda r: f"{r['rtf_p50']:.3f}"),
    ]
    codec, machine = report["codec"], report["machine"]
    lines = [
        f"codec {codec['weights'][:12]} at {codec['kbps']:g} kbps, {machine['threads']} threads "
        f"({machine['cpus']} CPUs); times in ms per call",
        " ".join(f"{header:>8}" for header, _ in columns),
    ]
    lines += [" ".join(f"{value(r):>8}" for _, value in columns) for r in report["results"]]
    return "\n".join(lines)
