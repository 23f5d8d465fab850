"""Synthesis with the synthesizers' own timings: espeak-ng events, flite phones, festival items.

One runner per synthesizer, each returning 24 kHz float32 audio with what that synthesizer reports:
- espeak-ng: libespeak-ng in retrieval mode, in a fresh process per utterance (audio/espeak_timed.py):
  WORD events (character position, sample) and, on request, PHONEME events (sample, mnemonic);
- flite: `-psdur` prints every phone with its end time (`pau:0.164 hh:0.255 ...`);
- festival: a Scheme script prints every Word item's start and end and every Segment's end.

engine/data/speech.py groups these into word timings for the engine's corpus; audio/phones.py maps them
onto one phone set for the codec. Nothing here trims or post-processes: times are the synthesizer's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio.resample import resample
from audio.tts import (
    SAMPLE_RATE,
    Voice,
    espeak_env,
    espeak_voice_arg,
    espeak_wpm,
    festival_stretch,
    flite_settings,
)
from audio.wavio import read_wav

_ROOT = Path(__file__).resolve().parents[1]  # the repository root, so `-m audio.espeak_timed` resolves


@dataclass
class EspeakTimed:
    """One espeak-ng utterance with its events.

    Attributes:
        wav: float32 [N] at 24 kHz.
        rate: espeak-ng's own sample rate (22050); event samples count at this rate.
        words: [char_position, sample] per WORD event (1-based character position in the text).
        phonemes: [sample, mnemonic] per PHONEME event (empty unless asked for).
    """

    wav: np.ndarray
    rate: int
    words: list[list[int]]
    phonemes: list[list]


def espeak_timed(text: str, voice: Voice, phonemes: bool = False) -> EspeakTimed:
    """Speak `text` in espeak-ng `voice` through the library, with its WORD (and PHONEME) events.

    Raises:
        RuntimeError: libespeak-ng is missing or failed.
    """
    cmd = [sys.executable, "-m", "audio.espeak_timed", espeak_voice_arg(voice), espeak_wpm(voice)]
    cmd += [str(voice.pitch)]
    cmd += ["phonemes"] if phonemes else []
    done = subprocess.run(
        cmd, input=text.encode(), capture_output=True, timeout=60, cwd=_ROOT, env=espeak_env(voice)
    )
    if done.returncode != 0:
        raise RuntimeError(f"{voice.key} failed on {text!r}: {done.stderr.decode().strip()[-300:]}")
    header, _, pcm = done.stdout.partition(b"\n")
    info = json.loads(header)
    rate = info["rate"]
    wav = resample(np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0, rate, SAMPLE_RATE)
    return EspeakTimed(wav, rate, info["events"], info.get("phonemes", []))


def flite_run(args: list[str]) -> str:
    """Run `flite ARGS` and return what it printed (the phones of `-ps` / `-psdur`)."""
    try:
        done = subprocess.run(["flite", *args], capture_output=True, text=True, check=True, timeout=60)
    except FileNotFoundError as e:
        raise RuntimeError("flite is not installed; run `make setup` (apt-get install flite)") from e
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"flite failed: {e.stderr.strip()[-300:]}") from e
    return done.stdout


def flite_timed(text: str, voice: Voice) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """Speak `text` in flite `voice` (speed and f0_hz as audio.tts.synthesize); returns the audio and
    every phone flite spoke with its end time in seconds, pauses (`pau`) included."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        timed = flite_run(
            ["-voice", voice.name, *flite_settings(voice), "-psdur", "-t", text, "-o", str(out)]
        )
        samples, rate = read_wav(out)
    phones = [(p, float(t)) for p, t in (item.rsplit(":", 1) for item in timed.split())]
    return resample(samples, rate, SAMPLE_RATE), phones


_FESTIVAL_SCRIPT = """(voice_{voice})
{stretch}
(set! utt (utt.synth (Utterance Text "{text}")))
(utt.save.wave utt "{out}" 'riff)
(mapcar (lambda (w) (format t "%s %f %f\\n" (item.name w)
  (item.feat w "R:SylStructure.daughter1.daughter1.segment_start") (item.feat w "word_end")))
  (utt.relation.items utt 'Word))
(mapcar (lambda (s) (format t "| %s %f\\n" (item.name s) (item.feat s "end")))
  (utt.relation.items utt 'Segment))
"""


@dataclass
class FestivalTimed:
    """One festival utterance with its items.

    Attributes:
        wav: float32 [N] at 24 kHz.
        words: (name, start_s, end_s) per Word item (festival splits "what's" into "what" + "'s").
        segments: (phone, end_s) per Segment item, pauses (`pau`) included.
    """

    wav: np.ndarray
    words: list[tuple[str, float, float]]
    segments: list[tuple[str, float]]


def festival_timed(text: str, voice: Voice) -> FestivalTimed:
    """Speak `text` in festival `voice` (speed as audio.tts.synthesize) with its Word and Segment items.

    Raises:
        RuntimeError: festival is missing or failed.
    """
    stretch = festival_stretch(voice)
    with tempfile.TemporaryDirectory() as tmp:
        out, script = Path(tmp) / "speech.wav", Path(tmp) / "say.scm"
        quoted = text.replace("\\", " ").replace('"', " ")
        script.write_text(_FESTIVAL_SCRIPT.format(voice=voice.name, stretch=stretch, text=quoted, out=out))
        try:
            done = subprocess.run(
                ["festival", "--batch", str(script)], capture_output=True, text=True, timeout=120
            )
        except FileNotFoundError as e:
            raise RuntimeError(
                "festival is not installed; run `make setup` (apt-get install festival)"
            ) from e
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(
                f"festival voice {voice.name} failed on {text!r}: {done.stderr.strip()[-300:]}"
            )
        samples, rate = read_wav(out)
    words, segments = [], []
    for fields in (line.split() for line in done.stdout.splitlines()):
        if len(fields) == 3 and fields[0] == "|":  # no Word item is named "|"
            segments.append((fields[1], float(fields[2])))
        elif len(fields) == 3:
            words.append((fields[0], float(fields[1]), float(fields[2])))
    return FestivalTimed(resample(samples, rate, SAMPLE_RATE), words, segments)
