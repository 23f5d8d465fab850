"""Synthetic speech: every synthesizer hark uses gives audible 24 kHz speech."""

import numpy as np
import pytest

from audio.levels import rms_dbfs
from audio.tts import Voice, installed_festival_voices, synthesize, voice_catalog


@pytest.mark.parametrize(
    "voice",
    [
        Voice("espeak-ng", "en-gb-scotland+f3", 1.1, 60),
        Voice("flite", "rms"),
        Voice("festival", "kal_diphone"),
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
