"""The speaker pool: thousands of speakers from a handful of synthesizers, split into train and test.

A `Speaker` is a `Voice` (synthesizer, voice, speed, pitch) plus a vocal-tract scale applied after
synthesis; `speaker(seed, split)` draws one, a pure function of its arguments, and `render` speaks text
in it. The codec's training data and the engine's listening data both draw from here.

Per draw, a synthesizer family by `FAMILY_WEIGHTS`, then (docs/data.md, "Speaker pool", has the
measured cost of each):
- `espeak-variant`: a generated espeak-ng variant (audio/espeak_variants.py) on an English accent;
  the test split's variants come from a band of formant scales training never samples;
- `espeak-named`: espeak-ng's own variants (voice_catalog) at a pitch of 35-65;
- `flite`: every English flite voice; kal, kal16 and awb at their own pitch or a mean of 100-230 Hz;
- `festival`: every English festival voice, plus the other-language female voices in training;
- `pico`: SVOX Pico's two female voices, pitch x0.8-1.2; `piper`: the Piper neural voice.
Every speaker gets a speed of 0.9-1.1; half of those not generated a vocal-tract scale of 0.8-1.3.

Held out for the test split: whole voices (`TEST_VOICES`, a superset of audio/codec_data.py's
`is_held_out` and engine/data/voices.py's `HELD_OUT_*`, so older held-out evaluations stay held out)
and the variant band. The assistant's voice (flite rms) is a training voice here; the engine's user
pool leaves it out itself. Piper has one voice: it is a training voice (its natural prosody is what the
other synthesizers lack most), so the test split has no Piper speaker.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, replace

import numpy as np

from audio import espeak_variants
from audio.resample import resample
from audio.tts import (
    ESPEAK_ACCENTS,
    ESPEAK_VARIANTS,
    FESTIVAL_FEMALE_VOICES,
    FESTIVAL_SLT_VOICE,
    FESTIVAL_VOICES,
    FLITE_VOICES,
    PICO_VOICES,
    PIPER_VOICES,
    PITCH_FOLLOWING_FLITE_VOICES,
    SAMPLE_RATE,
    Voice,
    synthesize,
)

SPLITS = ("train", "test")
# Whole voices only the test split hears. espeak-ng entries are an accent (all its variants) or a
# variant (on every accent); the union of the codec's and the engine's held-out voices, plus one voice
# of each new family with more than one: festival's slt (flite slt's speaker) and pico en-GB.
TEST_ESPEAK_ACCENTS = frozenset({"en-029", "en-gb-x-gbcwmd"})
TEST_ESPEAK_VARIANTS = frozenset({"klatt3", "Lee", "f4", "boris", "m5"})
TEST_VOICES = frozenset(
    {("flite", "slt"), ("flite", "awb"), ("festival", "ked_diphone"), ("festival", FESTIVAL_SLT_VOICE)}
    | {("pico", "en-GB")}
)
# Share of draws per family. espeak-ng is fast and, through generated variants, the only source of
# many speakers; festival and Piper cost 3-10x a flite utterance, so they stay a minority.
FAMILY_WEIGHTS = {
    "espeak-variant": 0.42,
    "espeak-named": 0.12,
    "flite": 0.18,
    "festival": 0.10,
    "pico": 0.12,
    "piper": 0.06,
}
SPEED_RANGE = (0.9, 1.1)
VOCAL_TRACT_SCALES = (0.8, 1.3)  # as audio/codec_data.py's crops: every frequency times this factor
VOCAL_TRACT_SHARE = 0.5


@dataclass(frozen=True)
class Speaker:
    """One speaker of the pool.

    Args:
        voice: the synthesizer setting.
        tract_scale: every frequency of the synthesized speech (formants and pitch) is multiplied by it
            (resampling, so the speech also gets 1/tract_scale times as long); 1.0 leaves it as it is.
    """

    voice: Voice
    tract_scale: float = 1.0

    @property
    def key(self) -> str:
        """A short stable identifier: the voice's key, with `*1.12` for a tract scale."""
        return self.voice.key if self.tract_scale == 1.0 else f"{self.voice.key}*{self.tract_scale:.2f}"


def is_test_voice(voice: Voice) -> bool:
    """Whether `voice` (any speed or pitch) belongs to the test split alone."""
    if voice.engine == "espeak-ng":
        accent, _, variant = voice.name.partition("+")
        seed = espeak_variants.variant_seed(voice.name)
        if seed is not None and espeak_variants.is_held_out_variant(seed):
            return True
        return accent in TEST_ESPEAK_ACCENTS or variant in TEST_ESPEAK_VARIANTS
    return (voice.engine, voice.name) in TEST_VOICES


@functools.cache
def _family_voices(split: str) -> dict[str, tuple[Voice, ...]]:
    """The named voices (speed and pitch not yet drawn) of each family in `split`."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    festival = [*FESTIVAL_VOICES, FESTIVAL_SLT_VOICE] + (FESTIVAL_FEMALE_VOICES if split == "train" else [])
    families = {
        "espeak-named": [Voice("espeak-ng", f"{a}+{v}") for a in ESPEAK_ACCENTS for v in ESPEAK_VARIANTS],
        "flite": [Voice("flite", n) for n in FLITE_VOICES],
        "festival": [Voice("festival", n) for n in festival],
        "pico": [Voice("pico", n) for n in PICO_VOICES],
        "piper": [Voice("piper", n) for n in PIPER_VOICES],
    }
    keep = split == "test"
    return {f: tuple(v for v in vs if is_test_voice(v) == keep) for f, vs in families.items()}


def _variant_voice(rng: random.Random, split: str) -> Voice:
    """A generated variant of `split` on one of its accents: seeds are drawn until one falls on the
    split's side of the held-out band (about one in seven is in it)."""
    accents = [a for a in ESPEAK_ACCENTS if (a in TEST_ESPEAK_ACCENTS) <= (split == "test")]
    accent = rng.choice(accents)
    while True:
        seed = rng.randrange(1_000_000)
        if espeak_variants.is_held_out_variant(seed) == (split == "test"):
            return Voice("espeak-ng", f"{accent}+{espeak_variants.variant_name(seed)}")


def sample_speaker(rng: random.Random, split: str) -> Speaker:
    """A speaker of `split` ("train" or "test"), drawn with `rng` (see the module docstring)."""
    families = _family_voices(split)
    names = [f for f in FAMILY_WEIGHTS if f == "espeak-variant" or families[f]]
    family = rng.choices(names, weights=[FAMILY_WEIGHTS[f] for f in names])[0]
    voice = _variant_voice(rng, split) if family == "espeak-variant" else rng.choice(families[family])
    voice = replace(voice, speed=round(rng.uniform(*SPEED_RANGE), 2))
    if family == "espeak-named":
        voice = replace(voice, pitch=rng.randint(35, 65))
    elif family == "pico":
        voice = replace(voice, pitch=rng.randint(40, 60))
    elif voice.name in PITCH_FOLLOWING_FLITE_VOICES and rng.random() < 0.5:
        voice = replace(voice, f0_hz=10 * rng.randint(10, 23))
    # Generated variants scale their formants already, and scaling them again would carry training
    # speakers into the held-out band.
    scaled = family != "espeak-variant" and rng.random() < VOCAL_TRACT_SHARE
    return Speaker(voice, round(rng.uniform(*VOCAL_TRACT_SCALES), 2) if scaled else 1.0)


def speaker(seed: int, split: str) -> Speaker:
    """Speaker number `seed` of `split`: the same arguments always give the same speaker."""
    return sample_speaker(random.Random(f"speaker-{split}-{seed}"), split)


def scale_tract(samples: np.ndarray, scale: float) -> np.ndarray:
    """`samples` (24 kHz) with every frequency multiplied by `scale`: read as if recorded at
    24 kHz x scale and resampled to 24 kHz (scales are given to 1/100, so the ratio stays small)."""
    if scale == 1.0:
        return samples
    return resample(samples, round(SAMPLE_RATE * scale), SAMPLE_RATE)


def render(text: str, who: Speaker) -> np.ndarray:
    """`text` spoken by `who`: float32 mono at 24 kHz."""
    return scale_tract(synthesize(text, who.voice), who.tract_scale)


def pool_summary(split: str, draws: int = 10_000, seed: int = 0) -> dict[str, int]:
    """Distinct voices (speed, pitch and scale aside) per family in `draws` speakers of `split`."""
    seen: dict[str, set[str]] = {}
    for i in range(seed, seed + draws):
        voice = speaker(i, split).voice
        family = "espeak-variant" if espeak_variants.variant_seed(voice.name) is not None else voice.engine
        seen.setdefault(family, set()).add(voice.name)
    return {family: len(names) for family, names in sorted(seen.items())}
