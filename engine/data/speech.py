"""Synthesized speech with per-word timings, for aligning text tokens to audio steps (53 ms).

`audio.tts.synthesize` gives audio only; the engine's data needs to know when each word starts and ends.
Each synthesizer reports its own timing (the runners are audio/timed_speech.py's), so no aligner is needed:

- espeak-ng: libespeak-ng (ctypes, in a fresh process per utterance: audio/espeak_timed.py) in
  retrieval mode; its WORD events carry the sample where each word begins (measured within ~30-60 ms
  of the acoustic onset, often exact).
- flite: `-psdur` prints every phone with its end time; the phones are grouped into words by counting
  each word's phones in its pronunciation (`flite -ps` on the words spoken one by one).
- festival: a Scheme script prints every Word item's start and end after synthesis.

Word ends that the synthesizer does not give directly (espeak-ng) are the next word's start pulled back
over any silence between them (energy in 10 ms frames); all times are then clipped to the audio.
Leading and trailing silence is trimmed so that a `Speech` starts at its first word.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field, replace

import numpy as np

from audio.timed_speech import espeak_timed, festival_timed, flite_run, flite_timed
from audio.tts import SAMPLE_RATE, Voice

_LEAD_S = 0.03  # kept before the first word / after the last one when trimming silence


@dataclass
class Speech:
    """Speech audio with word timings.

    Attributes:
        wav: float32 [N] mono at 24 kHz.
        words: one (word, start_s, end_s) per whitespace-separated word of the text, punctuation attached.
    """

    wav: np.ndarray
    words: list[tuple[str, float, float]] = field(default_factory=list)

    @property
    def num_samples(self) -> int:
        """Length in samples."""
        return len(self.wav)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.wav) / SAMPLE_RATE


def speak(text: str, voice: Voice) -> Speech:
    """Synthesize `text` in `voice` with word timings, trimmed to the speech.

    Raises:
        RuntimeError: the synthesizer is missing or failed.
        ValueError: unknown synthesizer.
    """
    engines = {"espeak-ng": _espeak, "flite": _flite, "festival": _festival}
    if voice.engine not in engines:
        raise ValueError(f"unknown synthesizer {voice.engine!r}; expected one of {sorted(engines)}")
    wav, words = engines[voice.engine](text, voice)
    return _trim(Speech(wav, _fix_ends(wav, words)))


# --- espeak-ng ---
def _espeak(text: str, voice: Voice) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    timed = espeak_timed(text, voice)
    wav, rate = timed.wav, timed.rate
    spans = [(m.start(), m.group()) for m in re.finditer(r"\S+", text)]
    offsets = [s for s, _ in spans]
    starts: list[float | None] = [None] * len(spans)
    for position, sample in timed.words:
        i = max(bisect.bisect_right(offsets, position - 1) - 1, 0)  # the word holding that character
        if starts[i] is None:
            starts[i] = sample / rate
    return wav, _interpolate(spans, starts, len(wav) / SAMPLE_RATE)


def _interpolate(
    spans: list[tuple[int, str]], starts: list[float | None], total: float
) -> list[tuple[str, float, float]]:
    """Fill words without an event between their neighbours; ends are the next word's start."""
    known = [(i, s) for i, s in enumerate(starts) if s is not None] or [(0, 0.0)]
    xs, ys = [i for i, _ in known] + [len(spans)], [s for _, s in known] + [total]
    filled = np.interp(np.arange(len(spans) + 1), xs, ys)
    filled = np.maximum.accumulate(filled)
    return [(w, float(filled[i]), float(filled[i + 1])) for i, (_, w) in enumerate(spans)]


# --- flite ---
def _flite(text: str, voice: Voice) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    words = text.split()
    # The engine's corpus was rendered without flite's target pitch (f0_hz): kept so its cache stays valid.
    wav, phones = flite_timed(text, replace(voice, f0_hz=0))
    # The same words spoken one sentence each: pauses separate the words' phone lists.
    isolated = flite_run(
        ["-voice", voice.name, "-ps", "-t", ". ".join(_bare(w) for w in words) + ".", "-o", "none"]
    )
    counts = [len(group.split()) for group in isolated.split("pau") if group.strip()]
    return wav, _group_phones(words, counts, phones, len(wav) / SAMPLE_RATE)


def _bare(word: str) -> str:
    return re.sub(r"[^\w']", "", word) or word


def _group_phones(
    words: list[str], counts: list[int], phones: list[tuple[str, float]], total: float
) -> list[tuple[str, float, float]]:
    """Assign consecutive non-pause phones to words by count; proportional split if the counts disagree."""
    spoken = []  # (start, end) of each non-pause phone
    previous_end = 0.0
    for name, end in phones:
        if name != "pau":
            spoken.append((previous_end, end))
        previous_end = end
    if len(counts) != len(words) or sum(counts) != len(spoken) or not spoken:
        starts: list[float | None] = [None] * len(words)
        starts[0] = spoken[0][0] if spoken else 0.0
        return _interpolate([(0, w) for w in words], starts, spoken[-1][1] if spoken else total)
    timings, k = [], 0
    for word, n in zip(words, counts, strict=True):
        timings.append((word, spoken[k][0], spoken[k + n - 1][1]))
        k += n
    return timings


# --- festival ---
def _festival(text: str, voice: Voice) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    timed = festival_timed(text, voice)
    return timed.wav, _match_items(text.split(), timed.words, len(timed.wav) / SAMPLE_RATE)


def _match_items(
    words: list[str], items: list[tuple[str, float, float]], total: float
) -> list[tuple[str, float, float]]:
    """Map festival's Word items (it splits "what's" into "what" + "'s") back onto the text's words."""
    timings, k = [], 0
    for word in words:
        target, seen, start, end = _bare(word).lower(), "", None, None
        while k < len(items) and (not seen or target.startswith(seen + items[k][0].lower())):
            name, s, e = items[k]
            seen += name.lower()
            if e > 0:
                start = s if start is None else start
                end = e
            k += 1
            if seen == target:
                break
        if start is None or end is None:
            starts: list[float | None] = [None] * len(words)
            starts[0] = items[0][1] if items else 0.0
            return _interpolate([(0, w) for w in words], starts, total)
        timings.append((word, start, end))
    return timings


# --- shared post-processing ---
def _frame_energy(wav: np.ndarray, hop: int) -> np.ndarray:
    n = len(wav) // hop
    return np.sqrt((wav[: n * hop].reshape(n, hop) ** 2).mean(axis=1) + 1e-12)


def _fix_ends(wav: np.ndarray, words: list[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
    """Move each word's start forward and its end back over silence; clip all times to the audio."""
    hop = SAMPLE_RATE // 100
    energy = _frame_energy(wav, hop)
    voiced = energy > 0.02 * (energy.max() if len(energy) else 1.0)
    total = len(wav) / SAMPLE_RATE
    fixed = []
    for word, start, end in words:
        start, end = min(max(start, 0.0), total), min(max(end, start), total)
        a, b = int(start * 100), int(end * 100)
        active = np.flatnonzero(voiced[a:b])
        if len(active):
            start, end = max(start, (a + active[0]) / 100), min(end, (a + active[-1] + 1) / 100)
        fixed.append((word, start, max(end, start + 0.01)))
    return fixed


def _trim(speech: Speech) -> Speech:
    """Cut leading/trailing silence to _LEAD_S around the words and shift the timings."""
    if not speech.words:
        return speech
    start = max(speech.words[0][1] - _LEAD_S, 0.0)
    end = min(speech.words[-1][2] + _LEAD_S, speech.duration)
    a, b = int(start * SAMPLE_RATE), int(np.ceil(end * SAMPLE_RATE))
    words = [(w, s - a / SAMPLE_RATE, e - a / SAMPLE_RATE) for w, s, e in speech.words]
    return Speech(speech.wav[a:b].astype(np.float32), words)
