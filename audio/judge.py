"""pocketsphinx as an offline intelligibility judge: transcribe 24 kHz speech, score word error rate.

pocketsphinx's wheel ships a general English acoustic and language model, so it needs no download. It is
a weak recogniser (WER ~0.2 on clean flite `rms` speech), which is fine for a judge: hark compares WERs of
the same sentences before and after a stage (the codec, the engine), never against other systems.
"""

from __future__ import annotations

import numpy as np

from audio.resample import resample

SPHINX_RATE = 16000


class Judge:
    """A reusable pocketsphinx decoder (creating one loads ~50 MB of models, so keep it)."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder  # imported here: loading it is slow and only judges need it

        self._decoder = Decoder(samprate=SPHINX_RATE, loglevel="FATAL")

    def transcribe(self, wav: np.ndarray, sample_rate: int = 24000) -> str:
        """Lower-case words recognised in `wav` (float32 mono), "" when nothing is recognised."""
        pcm = resample(wav, sample_rate, SPHINX_RATE)
        pcm16 = (np.clip(pcm, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        self._decoder.start_utt()
        self._decoder.process_raw(pcm16, full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        return normalise(hyp.hypstr) if hyp else ""


def normalise(text: str) -> str:
    """Lower case, letters, digits and apostrophes only, single spaces."""
    kept = "".join(c if c.isalnum() or c == "'" else " " for c in text.lower())
    return " ".join(kept.split())


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word-level edit distance, number of reference words) after `normalise`."""
    ref, hyp = normalise(reference).split(), normalise(hypothesis).split()
    row = list(range(len(hyp) + 1))  # distances from the empty reference prefix
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1], len(ref)


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER: total edits over total reference words."""
    pairs = [word_errors(r, h) for r, h in zip(references, hypotheses, strict=True)]
    return sum(e for e, _ in pairs) / max(1, sum(n for _, n in pairs))
