"""Synthetic speech from Debian's offline synthesizers (espeak-ng, flite, festival), as 24 kHz float32.

Used to make training data for the codec and the engine, test questions, and benchmark clients. Each
`Voice` names one synthesizer setting; `voice_catalog()` lists the ones hark trains and evaluates on.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
# Female voices of other languages reading English through their own letter-to-sound rules: not English,
# but natural female timbre, which the English voices above lack (flite slt is held out). For the codec,
# which must render any voice; Debian's festvox-italp16k, -suopuhe-lj, -czech-dita, -ca-ona-hts.
FESTIVAL_FEMALE_VOICES = ["lp_diphone", "suo_fi_lj_diphone", "czech_dita", "upc_ca_ona_hts"]


@dataclass(frozen=True)
class Voice:
    """One synthesizer setting.

    Args:
        engine: "espeak-ng", "flite" or "festival".
        name: espeak-ng "accent+variant", a flite voice, or a festival voice.
        speed: speaking-rate multiplier (1.0 = the synthesizer's default).
        pitch: espeak-ng pitch 0-99 (others ignore it).
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
    """The voice argument espeak-ng (`-v`, or the library's SetVoiceByName) takes for an espeak-ng `voice`."""
    return voice.name


def _command(text: str, voice: Voice, out: Path) -> tuple[list[str], str | None]:
    """The synthesizer command line (and its stdin) that writes `text` in `voice` to `out`."""
    if voice.engine == "espeak-ng":
        wpm = str(round(175 * voice.speed))
        return [
            "espeak-ng",
            "-v",
            espeak_voice_arg(voice),
            "-s",
            wpm,
            "-p",
            str(voice.pitch),
            "-w",
            str(out),
            text,
        ], None
    if voice.engine == "flite":
        settings = ["--setf", f"duration_stretch={1.0 / voice.speed:.3f}"]
        if voice.f0_hz:
            settings += ["--setf", f"int_f0_target_mean={voice.f0_hz}"]
        return ["flite", "-voice", voice.name, *settings, "-t", text, "-o", str(out)], None
    if voice.engine == "festival":
        stretch = f"(Parameter.set 'Duration_Stretch {1.0 / voice.speed:.3f})"
        return ["text2wave", "-o", str(out), "-eval", f"(voice_{voice.name})", "-eval", stretch], text
    raise ValueError(f"unknown synthesizer {voice.engine!r}; expected espeak-ng, flite or festival")


def synthesize(text: str, voice: Voice) -> np.ndarray:
    """Speak `text` in `voice`; returns float32 mono samples at 24 kHz, leading/trailing silence kept.

    Raises:
        RuntimeError: the synthesizer is missing or failed (the message says what to install).
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        cmd, stdin = _command(text, voice, out)
        try:
            subprocess.run(cmd, input=stdin, text=True, check=True, capture_output=True, timeout=60)
        except FileNotFoundError as e:
            raise RuntimeError(
                f"{cmd[0]} is not installed; run `make setup` (apt-get install espeak-ng flite "
                "festival festvox-kallpc16k)"
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
