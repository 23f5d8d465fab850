"""The codec's training crops: vocal-tract scaling moves every frequency by one factor within range, and
every crop's frame phones stay aligned with its audio."""

import numpy as np

from audio.codec_data import FRAME_SIZE, VOCAL_TRACT_SCALES, SpeechPool, random_crops

RATE = 24000


def _peak_hz(clip: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(clip * np.hanning(len(clip))))
    return float(np.argmax(spectrum) * RATE / len(clip))


def _tone(seconds: float, hz: float = 300.0) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * hz * np.arange(int(seconds * RATE)) / RATE)).astype(np.float32)


def test_scaled_crops_move_a_tone_within_the_range_and_plain_crops_keep_it():
    tone = _tone(10)
    pool = SpeechPool(tone, np.zeros(len(tone) // FRAME_SIZE, np.int16))
    length, rng = 15360, np.random.default_rng(0)
    plain = random_crops(pool, 8, length, rng, scale_prob=0.0)[0][:, 0].numpy()
    scaled = random_crops(pool, 32, length, rng, scale_prob=1.0)[0][:, 0].numpy()
    assert all(abs(_peak_hz(c) - 300.0) < 2.0 for c in plain)
    peaks = np.array([_peak_hz(c) for c in scaled])
    low, high = VOCAL_TRACT_SCALES
    assert np.all((peaks > 300.0 * low - 2.0) & (peaks < 300.0 * high + 2.0))
    assert peaks.min() < 270.0 and peaks.max() > 330.0  # spread over the range, not one factor
    assert np.all(np.abs(scaled[:, -200:]).max(axis=1) > 0.4)  # no zero tail from the resampler


def test_crop_phones_follow_the_audio_when_plain_and_when_scaled():
    """Blocks of frames alternate between phone 1 (quiet) and phone 2 (loud); in every crop, plain or
    played faster or slower, the frames labelled 2 are the loud ones (one frame of slack at block edges)."""
    frames = 3000
    phones = np.where((np.arange(frames) // 13) % 2 == 0, 1, 2).astype(np.int16)
    gain = np.repeat(np.where(phones == 2, 1.0, 0.2), FRAME_SIZE).astype(np.float32)
    pool = SpeechPool(_tone(frames * FRAME_SIZE / RATE, 1000.0) * gain, phones)
    for scale_prob in (0.0, 1.0):
        crops, labels = random_crops(pool, 16, 40 * FRAME_SIZE, np.random.default_rng(1), scale_prob)
        level = np.abs(crops[:, 0].numpy()).reshape(16, 40, FRAME_SIZE).max(-1)
        labels = labels.numpy()
        assert labels.shape == (16, 40) and set(np.unique(labels)) == {1, 2}
        inside = np.zeros_like(labels, dtype=bool)  # frames whose neighbours share their label
        inside[:, 1:-1] = (labels[:, :-2] == labels[:, 1:-1]) & (labels[:, 2:] == labels[:, 1:-1])
        assert np.all(level[inside & (labels == 2)] > 0.4)
        assert np.all(level[inside & (labels == 1)] < 0.2)
