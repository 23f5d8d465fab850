"""A simulated loudspeaker: when a client that plays assistant audio as it arrives hears each sample.

A player starts a chunk when it arrives or when the previous chunk ends, whichever is later, so the play
time of sample j of chunk k is `start_k + j / rate` with `start_k = max(arrival_k, start_{k-1} + len_{k-1})`.
The benchmarks use it for "first sound heard" (latency) and "milliseconds played" (barge-in truncation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 24000


@dataclass(frozen=True)
class Chunk:
    """One received piece of assistant audio: when it was ready to play, its length, and its samples."""

    t: float  # time.monotonic() seconds at which the client could start playing it
    samples: int
    audio: np.ndarray | None = None  # float32 [samples] when the client decoded it


def start_times(chunks: Sequence[Chunk], rate: int = SAMPLE_RATE) -> list[float]:
    """Play start time of every chunk (a gapless queue fed by the arrivals)."""
    starts, free_at = [], float("-inf")
    for c in chunks:
        start = max(c.t, free_at)
        starts.append(start)
        free_at = start + c.samples / rate
    return starts


def first_sound(chunks: Sequence[Chunk], threshold: float, rate: int = SAMPLE_RATE) -> float | None:
    """Play time of the first sample louder than `threshold` (absolute amplitude); None if all are quiet."""
    for c, start in zip(chunks, start_times(chunks, rate), strict=True):
        if c.audio is None:
            raise ValueError("first_sound needs decoded audio in every chunk")
        loud = np.flatnonzero(np.abs(c.audio) > threshold)
        if len(loud):
            return start + loud[0] / rate
    return None


def played_samples(chunks: Sequence[Chunk], at: float, rate: int = SAMPLE_RATE) -> int:
    """Samples the player had played by time `at` (it stops there: a barge-in flush)."""
    played = 0
    for c, start in zip(chunks, start_times(chunks, rate), strict=True):
        if start >= at:
            break
        played += min(c.samples, int((at - start) * rate))
    return played
