"""The codec's training crops: vocal-tract scaling moves every frequency by one factor within range."""

import numpy as np

from audio.codec_data import VOCAL_TRACT_SCALES, random_crops

RATE = 24000


def _peak_hz(clip: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(clip * np.hanning(len(clip))))
    return float(np.argmax(spectrum) * RATE / len(clip))


def test_scaled_crops_move_a_tone_within_the_range_and_plain_crops_keep_it():
    tone = (0.5 * np.sin(2 * np.pi * 300.0 * np.arange(10 * RATE) / RATE)).astype(np.float32)
    length, rng = 15360, np.random.default_rng(0)
    plain = random_crops(tone, 8, length, rng, scale_prob=0.0)[:, 0].numpy()
    scaled = random_crops(tone, 32, length, rng, scale_prob=1.0)[:, 0].numpy()
    assert all(abs(_peak_hz(c) - 300.0) < 2.0 for c in plain)
    peaks = np.array([_peak_hz(c) for c in scaled])
    low, high = VOCAL_TRACT_SCALES
    assert np.all((peaks > 300.0 * low - 2.0) & (peaks < 300.0 * high + 2.0))
    assert peaks.min() < 270.0 and peaks.max() > 330.0  # spread over the range, not one factor
    assert np.all(np.abs(scaled[:, -200:]).max(axis=1) > 0.4)  # no zero tail from the resampler
