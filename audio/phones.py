"""One phone set for every synthesizer that reports its phones, and frame labels for the codec.

The codec's first codebook is taught to carry content by a phone classifier reading it
(audio/codec_train.py). Its labels come from the synthesizers' own timings (audio/timed_speech.py):

- espeak-ng: PHONEME events (the sample where each phoneme starts, espeak-ng's mnemonic);
- flite: `-psdur`, every phone with its end time (CMU phone names, `pau` for pauses);
- festival: the Segment items' end times (the radio phone set, a superset of CMU's).

All three are mapped onto ARPAbet's 39 phones without stress, plus `sil` (index 0) for pauses and
silence. The mapping is many-to-one where the synthesizers draw finer lines than ARPAbet (reduced vowels,
flaps, syllabic consonants, British vowels) and documented in docs/codec.md. A phone that maps to nothing
(a rare mnemonic) labels its frames unknown, so the loss skips them instead of learning a wrong label.
SVOX Pico and Piper do not report timings: their utterances train the codec without phone labels.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np

from audio.timed_speech import espeak_timed, festival_timed, flite_timed
from audio.tts import SAMPLE_RATE, Voice

log = logging.getLogger(__name__)

_VOWELS = "AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW"
_CONSONANTS = "B CH D DH F G HH JH K L M N NG P R S SH T TH V W Y Z ZH"
PHONES = ["sil", *sorted(_VOWELS.split() + _CONSONANTS.split())]  # ARPAbet's 39, in its usual order
NO_PHONE = -1  # frame label where the phone is unknown (not reported, or no place in PHONES): skipped
_INDEX = {p: i for i, p in enumerate(PHONES)}

# CMU / radio phone names (flite, festival) that are not ARPAbet's own.
_RADIO = {
    "pau": "sil", "h#": "sil", "#": "sil", "brth": "sil", "ssil": "sil", "sil": "sil",
    "ax": "AH", "axr": "ER", "ix": "IH", "dx": "T", "el": "L", "em": "M", "en": "N", "nx": "N",
}  # fmt: skip

# espeak-ng's English mnemonics (phsource/ph_english*), stress and length marks stripped.
_ESPEAK = {
    "@": "AH", "@2": "AH", "@5": "AH", "a#": "AH", "V": "AH", "3": "ER", "3:": "ER", "@L": "L",
    "a": "AE", "aa": "AE", "A:": "AA", "A@": "AA", "A": "AA", "0": "AA", "O": "AO", "O:": "AO",
    "O@": "AO", "O2": "AO", "o@": "AO", "oU": "OW", "oU#": "OW", "@U": "OW", "o": "OW", "OI": "OY",
    "aI": "AY", "aI@": "AY", "aI3": "AY", "aU": "AW", "aU@": "AW", "E": "EH", "E2": "EH", "E3": "EH",
    "e@": "EH", "eI": "EY", "e": "EY", "i": "IY", "i:": "IY", "i@": "IY", "i@3": "IY", "I": "IH", "I2": "IH",
    "I#": "IH", "U": "UH", "U@": "UH", "u:": "UW", "u": "UW", "u@": "UW",
    "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "g": "G", "f": "F", "v": "V", "s": "S",
    "z": "Z", "m": "M", "n": "N", "l": "L", "r": "R", "w": "W", "j": "Y", "h": "HH", "T": "TH",
    "D": "DH", "S": "SH", "Z": "ZH", "tS": "CH", "dZ": "JH", "N": "NG", "t#": "T", "d#": "D",
    "*": "T", "?": "T", "t2": "T", "d2": "D", "n-": "N", "l/": "L", "l#": "L", "r-": "R", "x": "K",
    "z#": "Z", "s2": "S", "k2": "K", "w#": "W", "hw": "W", "_": "sil", "_:": "sil", "_!": "sil",
    "_|": "sil", "_^_": "sil", ";": "sil",
}  # fmt: skip

_MARKS = re.compile(r"[',%=]")  # espeak-ng stress and syllable marks that may lead a mnemonic


@dataclass
class PhoneSpeech:
    """One utterance and the phones its synthesizer says it spoke.

    Attributes:
        samples: float32 [N] at 24 kHz.
        phones: (phone, start_s, end_s) in time order; `phone` is a PHONES entry, or "" when the
            synthesizer's phone maps to none (its frames get NO_PHONE).
    """

    samples: np.ndarray
    phones: list[tuple[str, float, float]]


def supports_phones(voice: Voice) -> bool:
    """Whether `voice`'s synthesizer reports its phones (espeak-ng, flite, festival)."""
    return voice.engine in ("espeak-ng", "flite", "festival")


def to_phone(name: str) -> str:
    """The PHONES entry for a synthesizer's phone name (espeak-ng mnemonic, CMU or radio phone), or ""."""
    if name.upper() in _INDEX and name.islower():  # CMU phones are ARPAbet in lower case
        return name.upper()
    if name in _RADIO:
        return _RADIO[name]
    bare = _MARKS.sub("", name)
    return _ESPEAK.get(bare, _ESPEAK.get(bare.rstrip(":"), ""))


def synthesize_with_phones(text: str, voice: Voice) -> PhoneSpeech:
    """Speak `text` in `voice` and return the audio with its phone timings.

    Raises:
        ValueError: `voice`'s synthesizer does not report phones (see supports_phones).
        RuntimeError: the synthesizer is missing or failed.
    """
    if voice.engine == "espeak-ng":
        timed = espeak_timed(text, voice, phonemes=True)
        starts = [(sample / timed.rate, name) for sample, name in timed.phonemes]
        return PhoneSpeech(timed.wav, _from_starts(starts, len(timed.wav) / SAMPLE_RATE))
    if voice.engine == "flite":
        wav, ends = flite_timed(text, voice)
        return PhoneSpeech(wav, _from_ends(ends))
    if voice.engine == "festival":
        timed = festival_timed(text, voice)
        return PhoneSpeech(timed.wav, _from_ends(timed.segments))
    raise ValueError(f"{voice.key}: {voice.engine} does not report its phones")


def _from_starts(starts: list[tuple[float, str]], duration: float) -> list[tuple[str, float, float]]:
    """Phones from (start_s, name) events: each lasts until the next one starts (the last: to the end)."""
    bounds = [t for t, _ in starts[1:]] + [duration]
    return [(to_phone(name), t, end) for (t, name), end in zip(starts, bounds, strict=True) if end > t]


def _from_ends(ends: list[tuple[str, float]]) -> list[tuple[str, float, float]]:
    """Phones from (name, end_s) items: each starts where the previous one ended."""
    phones, start = [], 0.0
    for name, end in ends:
        if end > start:
            phones.append((to_phone(name), start, end))
            start = end
    return phones


def frame_labels(phones: list[tuple[str, float, float]], n_frames: int, frame_rate: float) -> np.ndarray:
    """The PHONES index of each of `n_frames` frames (int16): the phone spoken at the frame's centre,
    `sil` before the first phone and after the last, NO_PHONE where the phone maps to none."""
    labels = np.zeros(n_frames, np.int16)
    centres = (np.arange(n_frames) + 0.5) / frame_rate
    for phone, start, end in phones:
        inside = (centres >= start) & (centres < end)
        labels[inside] = _INDEX.get(phone, NO_PHONE)
    return labels
