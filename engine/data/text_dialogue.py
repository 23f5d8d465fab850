"""Text-only dialogues for the text stage: the plan and layout of an audio dialogue, with word timings
estimated instead of synthesized, and only the text streams kept.

The streams are made by the same functions as `hark data synth`'s (`layout`, `monologue`, `transcript`,
the clock prefix), so the text stage and the audio stages share one token layout: for the same plan and
the same word timings they write the same tokens on the same steps (tests/engine/test_text_stage.py).
No synthesizer, codec or disk is involved, so millions of dialogues cost minutes.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from engine.data.align import monologue, transcript
from engine.data.clock import CLOCK_STYLE
from engine.data.dialogue import DialoguePlan, Timeline, layout, plan_dialogue
from engine.data.timing import estimate_timing
from engine.data.voices import ASSISTANT_VOICE
from engine.tokenizer import TextTokenizer

# Interruptions are left out: the assistant stops because it hears the user start, 1-2 steps before the
# first transcribed word, and text alone cannot show that onset (the dialogue stage teaches it).
INTERRUPTION_RATE = 0.0


@dataclass
class TextDialogue:
    """One dialogue's plan, timeline and text streams (int32 arrays: prefix [P], text and user_text [S])."""

    plan: DialoguePlan
    timeline: Timeline
    prefix: np.ndarray
    text: np.ndarray
    user_text: np.ndarray


def timed_layout(plan: DialoguePlan, rate: float = 1.0) -> Timeline:
    """Lay `plan` out on the audio clock with estimated word timings (user at its voice's rate).

    `rate` > 1 speeds the whole dialogue up (words, pauses and gaps; the assistant still answers
    RESPONSE_STEPS after a question): the same layout rules on fewer steps, so an early text stage
    sees more dialogues per CPU second."""
    rng = random.Random(f"timing/{plan.split}/{plan.seed}")
    if rate != 1.0:
        turns = [dataclasses.replace(t, pause_s=t.pause_s / rate, gap_s=t.gap_s / rate) for t in plan.turns]
        plan = dataclasses.replace(plan, turns=turns, lead_s=plan.lead_s / rate, tail_s=plan.tail_s / rate)
    questions = [[estimate_timing(p, plan.voice.speed * rate, rng) for p in t.parts] for t in plan.turns]
    answers = [estimate_timing(t.exchange.answer, ASSISTANT_VOICE.speed * rate, rng) for t in plan.turns]
    return layout(plan, questions, answers)


def text_streams(plan: DialoguePlan, timeline: Timeline, tokenizer: TextTokenizer) -> TextDialogue:
    """The prefix and both text streams of a laid-out dialogue, as `hark data synth` writes them."""
    prefix = tokenizer.encode_context(plan.clock.context(CLOCK_STYLE))
    return TextDialogue(
        plan,
        timeline,
        np.asarray(prefix, dtype=np.int32),
        monologue(timeline, tokenizer),
        transcript(timeline, tokenizer),
    )


def text_dialogue(
    seed: int,
    split: str,
    tokenizer: TextTokenizer,
    interruption_rate: float = INTERRUPTION_RATE,
    rate: float = 1.0,
    skill_weights: Mapping[str, float] | None = None,
) -> TextDialogue:
    """Text dialogue `seed` of `split` (deterministic), spoken `rate` times faster than usual, its skills
    drawn with `skill_weights` overriding the skills' own shares where given."""
    plan = plan_dialogue(seed, split, interruption_rate, skill_weights=skill_weights)
    return text_streams(plan, timed_layout(plan, rate), tokenizer)
