"""Tests for audio/resample.py: one-shot equals scipy's resample_poly, streaming equals one-shot, and the
filter keeps the band and removes aliases."""

from __future__ import annotations

from math import gcd

import numpy as np
import pytest
from scipy.signal import resample_poly

from audio.levels import rms_dbfs
from audio.resample import StreamResampler, resample


def _stream(resampler: StreamResampler, signal: np.ndarray, chunk_sizes: np.ndarray) -> np.ndarray:
    """Feed `signal` in chunks of the given sizes (cycled) and join the outputs."""
    outputs, start, i = [], 0, 0
    while start < len(signal):
        size = int(chunk_sizes[i % len(chunk_sizes)])
        outputs.append(resampler.process(signal[start : start + size]))
        start, i = start + size, i + 1
    return np.concatenate(outputs)


def _tone(freq: float, rate: int, seconds: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("length", [1, 7, 1000, 70001])
@pytest.mark.parametrize("rate_in,rate_out", [(44100, 24000), (24000, 44100), (22050, 24000), (24000, 8000)])
def test_one_shot_equals_scipy_resample_poly(rate_in: int, rate_out: int, length: int) -> None:
    """The numpy filter reproduces scipy's reference polyphase resampler, length and alignment included."""
    signal = np.random.default_rng(length).standard_normal(length).astype(np.float32)
    g = gcd(rate_in, rate_out)
    expected = resample_poly(signal, rate_out // g, rate_in // g)
    np.testing.assert_allclose(resample(signal, rate_in, rate_out), expected, atol=3e-6)


@pytest.mark.parametrize("rate_in,rate_out", [(44100, 24000), (24000, 48000), (22050, 24000), (48000, 24000)])
def test_stream_equals_one_shot_for_any_chunking(rate_in: int, rate_out: int) -> None:
    """Streaming output in random chunk sizes (down to 1 sample) is the one-shot result delayed by `delay`."""
    rng = np.random.default_rng(rate_in + rate_out)
    signal = rng.standard_normal(6000).astype(np.float32)
    expected = resample(signal, rate_in, rate_out)
    resampler = StreamResampler(rate_in, rate_out)
    tail = np.zeros(resampler.taps + resampler.delay * rate_in // rate_out + 1, dtype=np.float32)
    chunks = np.concatenate([[1, 1, 2], rng.integers(1, 900, 50)])
    streamed = _stream(resampler, np.concatenate([signal, tail]), chunks)[resampler.delay :]
    np.testing.assert_allclose(streamed[: len(expected)], expected, atol=2e-6)


def test_tone_keeps_frequency_and_level() -> None:
    """A 1 kHz tone at 44.1 kHz comes out as the same 1 kHz tone at 24 kHz (error below -50 dB)."""
    out = resample(_tone(1000, 44100, 0.5), 44100, 24000)
    expected = _tone(1000, 24000, 0.5)
    middle = slice(1000, len(expected) - 1000)  # edges see the filter's zero padding
    assert rms_dbfs(out[middle] - expected[middle]) - rms_dbfs(expected[middle]) < -50.0


def test_downsampling_removes_content_above_the_new_nyquist() -> None:
    """A 15 kHz tone cannot pass 48 kHz -> 24 kHz (it would alias to 9 kHz without the low-pass filter)."""
    resampler = StreamResampler(48000, 24000)
    out = resampler.process(_tone(15000, 48000, 0.5))
    assert rms_dbfs(out[200:]) < rms_dbfs(_tone(15000, 48000, 0.5)) - 50.0


def test_reset_starts_a_fresh_stream() -> None:
    """After reset, the resampler gives exactly what a new one gives: no history leaks across streams."""
    signal = np.random.default_rng(1).standard_normal(3000).astype(np.float32)
    used = StreamResampler(24000, 44100)
    used.process(signal[::-1].copy())
    used.reset()
    np.testing.assert_array_equal(used.process(signal), StreamResampler(24000, 44100).process(signal))


def test_equal_rates_pass_samples_through() -> None:
    """Equal rates are an identity with no delay."""
    signal = np.arange(10, dtype=np.float32)
    resampler = StreamResampler(24000, 24000)
    assert resampler.delay == 0
    np.testing.assert_array_equal(resampler.process(signal), signal)
