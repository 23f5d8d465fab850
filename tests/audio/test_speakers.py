"""The speaker pool: its splits are disjoint, its draws deterministic, and its speakers speak."""

import random

import numpy as np

from audio.codec_data import is_held_out
from audio.espeak_variants import HELD_OUT_FORMANT_SCALES, variant_params, variant_seed
from audio.speakers import SPLITS, Speaker, is_test_voice, pool_summary, render, sample_speaker, speaker
from audio.tts import Voice, voice_catalog
from engine.data.voices import is_held_out_voice


def _draws(split: str, n: int = 3000) -> list[Speaker]:
    return [speaker(i, split) for i in range(n)]


def test_splits_share_no_voice_and_no_variant_region():
    """Over thousands of draws no voice name is in both splits, every test variant lies in the held-out
    formant band and no training variant does."""
    train, test = _draws("train"), _draws("test")
    names = {s: {(x.voice.engine, x.voice.name) for x in d} for s, d in (("train", train), ("test", test))}
    assert not names["train"] & names["test"]
    low, high = HELD_OUT_FORMANT_SCALES
    for split, draws in (("train", train), ("test", test)):
        seeds = [variant_seed(x.voice.name) for x in draws if variant_seed(x.voice.name) is not None]
        assert len(seeds) > 800
        in_band = [low <= variant_params(s).formant_scale < high for s in seeds]
        assert all(in_band) if split == "test" else not any(in_band)
        assert all(is_test_voice(x.voice) == (split == "test") for x in draws)


def test_test_split_holds_out_the_older_held_out_voices():
    """Every voice the codec or the engine held out before is a test voice here, so old evaluations
    stay held out."""
    old = [v for v in voice_catalog() if is_held_out(v) or is_held_out_voice(v)]
    assert old and all(is_test_voice(v) for v in old)
    train = _draws("train", 2000)
    assert not any(is_held_out(x.voice) or is_held_out_voice(x.voice) for x in train)


def test_pool_covers_every_synthesizer_with_thousands_of_voices():
    """Training hears every family, and thousands of distinct voices; the test split every family but
    Piper (one voice, kept for training)."""
    train, test = pool_summary("train", 5000), pool_summary("test", 5000)
    assert set(train) == {"espeak-variant", "espeak-ng", "flite", "festival", "pico", "piper"}
    assert set(test) == set(train) - {"piper"}
    assert train["espeak-variant"] > 1500 and test["espeak-variant"] > 1500


def test_draws_are_deterministic():
    """The same seed and split give the same speaker, and the same rng state the same draw."""
    assert [speaker(i, "train") for i in range(50)] == [speaker(i, "train") for i in range(50)]
    assert sample_speaker(random.Random(4), "test") == sample_speaker(random.Random(4), "test")
    assert speaker(1, "train") != speaker(1, "test")
    assert all(0.9 <= speaker(i, s).voice.speed <= 1.1 for i in range(200) for s in SPLITS)


def test_render_scales_the_vocal_tract_and_repeats():
    """A tract scale of 1.25 gives speech 1/1.25 as long, with a higher spectral centroid; rendering
    twice gives the same samples."""
    text = "the quick brown fox jumps over the lazy dog"
    plain, scaled = Speaker(Voice("flite", "kal")), Speaker(Voice("flite", "kal"), 1.25)
    a, b = render(text, plain), render(text, scaled)
    assert abs(len(b) / len(a) - 1 / 1.25) < 0.01
    assert np.array_equal(b, render(text, scaled)) and b.dtype == np.float32

    def centroid(x: np.ndarray) -> float:
        power = np.abs(np.fft.rfft(x)) ** 2
        return float(np.sum(np.fft.rfftfreq(len(x), 1 / 24000) * power) / np.sum(power))

    assert centroid(b) > 1.1 * centroid(a)
    assert scaled.key == "flite:kal@1.00/50*1.25" and plain.key == "flite:kal@1.00/50"
