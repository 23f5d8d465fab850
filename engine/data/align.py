"""Text streams aligned to audio steps: the assistant's monologue and the user's transcript.

Conventions (engine_api.md):
- an assistant word's tokens go on consecutive steps starting 1 step BEFORE the step where that word's
  audio begins; after the last word of a complete answer come the tool line, if any (TOOL_ID, its
  tokens, EOS_ID), and then EOS_ID, ending the turn, on the answer's last audio step (or the next free
  step);
- an interrupted answer keeps only the words whose audio began before the cut; EOS_ID goes on the
  first silenced step (the monologue records the cut);
- a user word's tokens start at the step in which the word's audio ends (transcribed after hearing it),
  in normalized transcript form (lower case, no punctuation); EOS_ID follows the last word of each
  question (after a mid-question pause there is none): the end of the user's turn, which the text stage
  cannot hear and the audio stages learn to detect (endpointing).
When a word has more tokens than steps before the next word, the later tokens slide right (never overlap).
"""

from __future__ import annotations

import numpy as np

from audio.tts import SAMPLE_RATE
from engine.data.corpus import normalize_transcript
from engine.data.dialogue import STEP_SAMPLES, Placed, Timeline
from engine.tokenizer import EOS_ID, PAD_ID, TOOL_ID, TextTokenizer


class _Stream:
    """A token stream being filled left to right; `cursor` is the first free step."""

    def __init__(self, num_steps: int):
        self.ids = np.full(num_steps, PAD_ID, dtype=np.int32)
        self.cursor = 0

    def put(self, step: int, tokens: list[int], limit: int | None = None) -> None:
        """Write `tokens` from `step` (or the cursor, if later); tokens at or past `limit` are dropped."""
        stop = len(self.ids) if limit is None else min(limit, len(self.ids))
        at = max(step, self.cursor)
        for token in tokens:
            if at >= stop:
                break
            self.ids[at] = token
            at += 1
        self.cursor = max(self.cursor, at)


def _word_step(placed: Placed, seconds: float) -> int:
    return (placed.offset + int(seconds * SAMPLE_RATE)) // STEP_SAMPLES


def monologue(timeline: Timeline, tokenizer: TextTokenizer) -> np.ndarray:
    """The assistant's text stream, int32 [S]."""
    stream = _Stream(timeline.num_steps)
    for placed, turn, tool in zip(timeline.assistant, timeline.turns, timeline.tools, strict=True):
        cut = turn["interrupted_at"]
        for word, start, _end in placed.speech.words:
            begins = _word_step(placed, start)
            if cut is not None and begins >= cut:
                break
            stream.put(begins - 1, tokenizer.encode(word), limit=cut)
        if cut is not None:
            stream.put(cut, [EOS_ID])
            continue
        if tool:  # the tool line is closed by its own EOS; a second EOS ends the turn
            stream.put(stream.cursor, [TOOL_ID, *tokenizer.encode(tool), EOS_ID])
        stream.put(turn["asst_end"] - 1, [EOS_ID])
    return stream.ids


def transcript(timeline: Timeline, tokenizer: TextTokenizer) -> np.ndarray:
    """The user's transcript stream, int32 [S]: each question's words, then EOS_ID."""
    stream = _Stream(timeline.num_steps)
    question_ends = {turn["user_end"] for turn in timeline.turns}
    for placed in timeline.user:
        for word, _start, end in placed.speech.words:
            text = normalize_transcript(word)
            if text:
                stream.put(_word_step(placed, end), tokenizer.encode(text))
        last = _word_step(placed, placed.speech.words[-1][2])
        if last in question_ends:
            stream.put(last, [EOS_ID])
    return stream.ids
