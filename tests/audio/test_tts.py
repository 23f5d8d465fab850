"""Synthetic speech: every synthesizer hark uses gives audible 24 kHz speech."""

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from audio.codec_data import is_held_out, training_voices
from audio.espeak_variants import prepare_variant, variant_file_text, variant_name
from audio.levels import rms_dbfs
from audio.tts import (
    FESTIVAL_FEMALE_VOICES,
    FESTIVAL_SLT_VOICE,
    Voice,
    espeak_env,
    espeak_voice_arg,
    installed_festival_voices,
    synthesize,
    voice_catalog,
)


def _median_f0(audio: np.ndarray, sample_rate: int = 24000) -> float:
    """Median pitch in Hz of the voiced 40 ms frames (autocorrelation peak between 70 and 400 Hz)."""
    n, lo, hi = int(0.04 * sample_rate), sample_rate // 400, sample_rate // 70
    pitches = []
    for start in range(0, len(audio) - n, n):
        frame = audio[start : start + n] - audio[start : start + n].mean()
        if rms_dbfs(frame) < -35:
            continue
        ac = np.correlate(frame, frame, "full")[n - 1 :]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.4 * ac[0]:
            pitches.append(sample_rate / lag)
    return float(np.median(pitches))


@pytest.mark.parametrize(
    "voice",
    [
        Voice("espeak-ng", "en-gb-scotland+f3", 1.1, 60),
        Voice("flite", "rms"),
        Voice("festival", "kal_diphone"),
        Voice("festival", "ked_diphone"),
        Voice("festival", FESTIVAL_SLT_VOICE),
        Voice("pico", "en-US"),
        Voice("pico", "en-GB", 1.1, 60),
        Voice("piper", "joe"),
        Voice("espeak-ng", "en-us+" + variant_name(7)),
    ],
)
def test_each_synthesizer_speaks(voice):
    """A short sentence comes back as float32 at 24 kHz, about as long as speech should be, and audible."""
    audio = synthesize("the quick brown fox jumps over the lazy dog", voice)
    assert audio.dtype == np.float32
    assert 1.0 < len(audio) / 24000 < 6.0
    assert rms_dbfs(audio) > -40


def test_speed_changes_duration():
    """A faster voice says the same words in less time."""
    slow = synthesize("one two three four five six", Voice("flite", "rms", speed=0.8))
    fast = synthesize("one two three four five six", Voice("flite", "rms", speed=1.25))
    assert len(fast) < 0.85 * len(slow)


def test_unknown_synthesizer_is_named():
    """A voice for a synthesizer hark does not know fails with its name in the message."""
    with pytest.raises(ValueError, match="unknown synthesizer 'sam'"):
        synthesize("hello", Voice("sam", "x"))


def test_catalog_covers_every_engine():
    """The catalog offers espeak-ng accents x variants, all flite voices and the installed festival voices."""
    voices = voice_catalog()
    engines = {v.engine for v in voices}
    assert engines == {"espeak-ng", "flite", "festival"}
    assert {v.name for v in voices if v.engine == "festival"} == set(installed_festival_voices())
    assert len({v.key for v in voices}) == len(voices)


def test_flite_f0_target_moves_a_male_voice_into_the_female_range():
    """awb speaks around 130 Hz; with f0_hz=220 the same words come out near 220 Hz, as long as before."""
    text = "the quick brown fox jumps over the lazy dog"
    own = synthesize(text, Voice("flite", "awb"))
    raised = synthesize(text, Voice("flite", "awb", f0_hz=220))
    assert _median_f0(own) < 160 and 190 < _median_f0(raised) < 250
    assert abs(len(raised) - len(own)) < 0.05 * len(own)
    assert Voice("flite", "awb", f0_hz=220).key == "flite:awb@1.00/50~220Hz"
    assert Voice("flite", "awb").key == "flite:awb@1.00/50"  # keys of existing voices (and caches) unchanged


def test_codec_trains_on_female_voices_and_never_on_held_out_ones():
    """The codec's pool draws on the installed other-language female festival voices (they speak, in the
    female range) and flite at raised pitch; no held-out voice is among them."""
    voices = training_voices()
    female = installed_festival_voices(FESTIVAL_FEMALE_VOICES)
    assert set(female) == set(FESTIVAL_FEMALE_VOICES)  # make setup installs them
    assert {v.name for v in voices if v.engine == "festival"} >= set(female)
    assert any(v.f0_hz for v in voices) and not any(is_held_out(v) for v in voices)
    for name in female:
        audio = synthesize("the quick brown fox jumps over the lazy dog", Voice("festival", name))
        assert rms_dbfs(audio) > -40 and _median_f0(audio) > 165


def _spectral_centroid(audio: np.ndarray, sample_rate: int = 24000) -> float:
    """Mean frequency of the power spectrum, in Hz."""
    power = np.abs(np.fft.rfft(audio)) ** 2
    return float(np.sum(np.fft.rfftfreq(len(audio), 1 / sample_rate) * power) / np.sum(power))


@pytest.mark.parametrize("voice", [Voice("festival", FESTIVAL_SLT_VOICE), Voice("pico", "en-US")])
def test_speed_changes_duration_of_the_new_synthesizers(voice):
    """festival's HTS voices (hts_engine's rate, not Duration_Stretch) and pico follow Voice.speed."""
    text = "one two three four five six"
    slow, fast = synthesize(text, replace(voice, speed=0.8)), synthesize(text, replace(voice, speed=1.25))
    assert len(fast) < 0.85 * len(slow)


def test_generated_variants_differ_and_repeat():
    """Two generated espeak-ng variants sound different (pitch and spectrum), and each is the same
    audio every time; its file is a function of the name alone."""
    text = "the quick brown fox jumps over the lazy dog"
    a, b = Voice("espeak-ng", "en-us+" + variant_name(3)), Voice("espeak-ng", "en-us+" + variant_name(11))
    audio_a, audio_b = synthesize(text, a), synthesize(text, b)
    assert np.array_equal(audio_a, synthesize(text, a))
    plain = synthesize(text, Voice("espeak-ng", "en-us"))
    centroids = [_spectral_centroid(x) for x in (audio_a, audio_b, plain)]
    pitches = [_median_f0(x) for x in (audio_a, audio_b, plain)]
    assert abs(centroids[0] - centroids[1]) > 100 or abs(pitches[0] - pitches[1]) > 15
    assert abs(centroids[0] - centroids[2]) > 100 or abs(pitches[0] - pitches[2]) > 15  # not the fallback
    assert variant_file_text(3) == variant_file_text(3) != variant_file_text(11)
    assert a.key == "espeak-ng:en-us+hark1-3@1.00/50"


def test_hundreds_of_generated_variants_stay_findable():
    """espeak-ng lists at most 349 voices: with 300 more variants prepared, the last one still speaks as
    itself, not as the plain accent it falls back to when its file is not listed."""
    seeds = range(50_000, 50_300)
    for seed in seeds:
        prepare_variant(seed)
    text = "the quick brown fox jumps over the lazy dog"
    last = synthesize(text, Voice("espeak-ng", "en-us+" + variant_name(seeds[-1])))
    plain = synthesize(text, Voice("espeak-ng", "en-us"))
    assert len(last) != len(plain) or not np.array_equal(last, plain)


def test_generated_variant_works_through_the_library():
    """libespeak-ng (audio/espeak_timed.py's way) finds a generated variant in espeak_env's
    environment and speaks differently than the plain accent."""
    voice = Voice("espeak-ng", "en-us+" + variant_name(3))

    def pcm(name: str) -> bytes:
        cmd = [sys.executable, "-m", "audio.espeak_timed", name, "175", "50"]
        out = subprocess.run(
            cmd, input=b"hello there", capture_output=True, check=True, env=espeak_env(voice)
        )
        return out.stdout.partition(b"\n")[2]

    assert len(pcm(espeak_voice_arg(voice))) > 4000
    assert pcm(espeak_voice_arg(voice)) != pcm("en-us")


def test_missing_synthesizer_says_what_to_install(monkeypatch):
    """With the synthesizer not on PATH, the error names the package to install."""
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RuntimeError, match="apt-get install flite"):
        synthesize("hello", Voice("flite", "rms"))
