"""Which synthetic voices speak for the user in each split, and the assistant's one fixed voice.

Held out of training entirely (test split only): one espeak-ng accent, a few espeak-ng variants (on every
accent), the flite voice `awb` and the festival voice `ked_diphone`. The assistant always speaks in flite
`rms` (the most intelligible to pocketsphinx here), which is never a user voice. The training split also
hears flite's kal voices at female pitch: its only female English voice would otherwise be slt.
"""

from __future__ import annotations

import functools
import random

from audio.tts import Voice, raised_pitch_voices, voice_catalog

ASSISTANT_VOICE = Voice("flite", "rms")
HELD_OUT_ACCENTS = frozenset({"en-gb-x-gbcwmd"})
HELD_OUT_VARIANTS = frozenset({"f4", "Lee", "boris", "m5"})
HELD_OUT_NAMES = frozenset({"awb", "ked_diphone"})
# The test pool stays voice_catalog()'s held-out voices, so held-out scores compare across corpora.
RAISED_PITCH_TRAINING_VOICES = ("kal", "kal16")
# Share of user turns per synthesizer; festival is ~10x slower than the others, so it stays a minority.
ENGINE_WEIGHTS = {"espeak-ng": 0.62, "flite": 0.28, "festival": 0.10}


def is_held_out_voice(voice: Voice) -> bool:
    """True for voices reserved for the test split."""
    if voice.engine == "espeak-ng":
        accent, _, variant = voice.name.partition("+")
        return accent in HELD_OUT_ACCENTS or variant in HELD_OUT_VARIANTS
    return voice.name in HELD_OUT_NAMES


@functools.cache
def user_voices(split: str) -> dict[str, tuple[Voice, ...]]:
    """The user voices of `split`, grouped by synthesizer (synthesizers without any are left out)."""
    pools: dict[str, list[Voice]] = {}
    extra = raised_pitch_voices(RAISED_PITCH_TRAINING_VOICES) if split == "train" else []
    for voice in voice_catalog() + extra:
        if voice.name == ASSISTANT_VOICE.name or is_held_out_voice(voice) != (split == "test"):
            continue
        pools.setdefault(voice.engine, []).append(voice)
    return {engine: tuple(voices) for engine, voices in pools.items()}


def pick_user_voice(rng: random.Random, split: str) -> Voice:
    """A user voice of `split`: a synthesizer by ENGINE_WEIGHTS, then a voice of it uniformly."""
    pools = user_voices(split)
    engines = [e for e in ENGINE_WEIGHTS if e in pools]
    engine = rng.choices(engines, weights=[ENGINE_WEIGHTS[e] for e in engines])[0]
    return rng.choice(pools[engine])
