"""Signal measurements on float32 audio: level in dBFS, and delay and similarity of a recorded known signal.

Used by the device loopback tests and anything that has to compare what was played with what came back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SILENCE_DBFS = -120.0  # reported for all-zero input instead of -inf


def rms_dbfs(samples: np.ndarray) -> float:
    """Root-mean-square level of float samples in dB relative to full scale (a full-scale sine is -3 dB)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return SILENCE_DBFS
    rms = float(np.sqrt(np.mean(x * x)))
    return max(SILENCE_DBFS, 20.0 * np.log10(rms)) if rms > 0 else SILENCE_DBFS


@dataclass(frozen=True)
class Alignment:
    """Where a reference signal was found inside a recording.

    Attributes:
        delay: index in the recording where the reference starts, in samples.
        correlation: normalized correlation of the reference with that stretch (1 = identical shape).
        gain_db: level of that stretch relative to the reference, in dB.
    """

    delay: int
    correlation: float
    gain_db: float


def align(reference: np.ndarray, recording: np.ndarray) -> Alignment:
    """Find `reference` (float [R]) inside `recording` (float [T], T >= R) by FFT cross-correlation.

    Raises:
        ValueError: the recording is shorter than the reference, or the reference is silent.
    """
    ref = np.asarray(reference, dtype=np.float64)
    rec = np.asarray(recording, dtype=np.float64)
    if len(rec) < len(ref):
        raise ValueError(f"recording ({len(rec)} samples) is shorter than the reference ({len(ref)} samples)")
    ref_energy = float(np.dot(ref, ref))
    if ref_energy == 0.0:
        raise ValueError("the reference signal is silent; nothing to align")
    n = 1 << int(np.ceil(np.log2(len(rec) + len(ref))))
    xcorr = np.fft.irfft(np.fft.rfft(rec, n) * np.conj(np.fft.rfft(ref, n)), n)[: len(rec) - len(ref) + 1]
    # Normalize by the energy of each candidate stretch so that loud noise cannot win over a faithful copy;
    # the floor (60 dB under the reference) keeps FFT rounding in near-silent stretches from scoring high.
    cumulative = np.concatenate([[0.0], np.cumsum(rec * rec)])
    stretch_energy = cumulative[len(ref) :] - cumulative[: len(rec) - len(ref) + 1]
    stretch_energy = np.maximum(stretch_energy, 1e-6 * ref_energy)
    normalized = xcorr / np.sqrt(ref_energy * stretch_energy)
    delay = int(np.argmax(normalized))
    gain = np.sqrt(stretch_energy[delay] / ref_energy)
    return Alignment(delay=delay, correlation=float(normalized[delay]), gain_db=float(20.0 * np.log10(gain)))
