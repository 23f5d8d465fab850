"""Tests for audio/levels.py: dBFS levels and finding a known signal inside a recording."""

from __future__ import annotations

import numpy as np
import pytest

from audio.levels import SILENCE_DBFS, align, rms_dbfs


def test_rms_dbfs_of_a_full_scale_sine_and_of_silence() -> None:
    """A full-scale sine is -3 dBFS; silence and empty input give the floor instead of -inf."""
    sine = np.sin(2 * np.pi * np.arange(24000) / 48).astype(np.float32)
    assert rms_dbfs(sine) == pytest.approx(-3.01, abs=0.01)
    assert rms_dbfs(np.zeros(10)) == rms_dbfs(np.zeros(0)) == SILENCE_DBFS


def test_align_finds_delay_gain_and_shape_in_noise() -> None:
    """A reference hidden at a known offset, 6 dB quieter, under noise 40 dB down, is found exactly."""
    rng = np.random.default_rng(0)
    reference = rng.standard_normal(2000).astype(np.float32)
    recording = 0.01 * rng.standard_normal(10000).astype(np.float32)
    recording[3210:5210] += 0.5 * reference
    found = align(reference, recording)
    assert found.delay == 3210
    assert found.correlation > 0.99
    assert found.gain_db == pytest.approx(-6.0, abs=0.1)


def test_align_prefers_a_faithful_copy_over_a_louder_different_sound() -> None:
    """Correlation is normalized per stretch: a loud unrelated burst does not beat a quiet exact copy."""
    rng = np.random.default_rng(1)
    reference = rng.standard_normal(500)
    recording = np.zeros(5000)
    recording[1000:1500] = 20 * rng.standard_normal(500)
    recording[4000:4500] = 0.1 * reference
    assert align(reference, recording).delay == 4000


def test_align_rejects_a_short_recording_and_a_silent_reference() -> None:
    """Impossible alignments raise ValueError naming the problem."""
    with pytest.raises(ValueError, match="shorter"):
        align(np.ones(10), np.ones(5))
    with pytest.raises(ValueError, match="silent"):
        align(np.zeros(10), np.ones(50))
