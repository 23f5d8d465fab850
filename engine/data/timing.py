"""Word timings without audio, for the text stage: a dialogue laid out on the audio clock from estimated
word durations instead of synthesized speech.

The estimate is a straight line in the number of letters, fitted to flite, espeak-ng and festival word
timings (docs/data.md has the fit); each word's length is jittered so the model does not learn one fixed
rhythm, and punctuation adds the pause the synthesizers make there. Only the steps on which text tokens
land depend on it, so it needs to be about right, not exact.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field

from audio.tts import SAMPLE_RATE

SECONDS_PER_LETTER = 0.066
SECONDS_PER_WORD = 0.03
MIN_WORD_S = 0.08
GAP_S = 0.005  # between words in one breath
PUNCTUATION_PAUSE_S = 0.08  # after a comma, period or colon inside an utterance
LEAD_S = 0.03  # before the first word and after the last, as trimmed synthesized speech keeps
JITTER = 0.15  # log-normal sigma of each word's length


@dataclass
class TimedWords:
    """An utterance's word timings and length, without audio: stands in for `Speech` in `layout`.

    Attributes:
        words: one (word, start_s, end_s) per whitespace-separated word, punctuation attached.
        num_samples: the utterance's length at 24 kHz.
    """

    words: list[tuple[str, float, float]] = field(default_factory=list)
    num_samples: int = 0

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.num_samples / SAMPLE_RATE


def estimate_timing(text: str, speed: float, rng: random.Random) -> TimedWords:
    """Plausible word timings of `text` spoken at `speed` (1.0: the synthesizers' default rate)."""
    t, words = LEAD_S, []
    pieces = text.split()
    for i, word in enumerate(pieces):
        letters = len(re.sub(r"[^\w']", "", word))
        length = (SECONDS_PER_WORD + SECONDS_PER_LETTER * letters) / speed
        length = max(MIN_WORD_S, length * math.exp(rng.gauss(0.0, JITTER)))
        words.append((word, t, t + length))
        t += length + GAP_S
        if i + 1 < len(pieces) and word[-1] in ",.:;!?":
            t += PUNCTUATION_PAUSE_S / speed
    end = (words[-1][2] if words else 0.0) + LEAD_S
    return TimedWords(words, int(math.ceil(end * SAMPLE_RATE)))
