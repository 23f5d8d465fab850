"""Multi-turn dialogues: a seeded plan (who says what, pauses, interruptions) and its layout on one timeline.

Timing rules the engine learns from this data (one step = 1280 samples = 53.3 ms):
- the assistant's audio starts RESPONSE_STEPS steps after the step in which the user's question ends
  (3-4 steps, 160-213 ms, after the last word), and always on a step boundary;
- some questions contain a short pause (0.3-0.8 s) mid-sentence; the assistant does not start in it;
- in some dialogues the user barges in while the assistant is speaking: the assistant's audio stops
  1 or 2 steps after the step in which the user's new question begins, and it answers that question.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from audio.tts import SAMPLE_RATE, Voice
from engine.data.clock import Clock
from engine.data.skills import Exchange, random_exchange, request
from engine.data.skills.smalltalk import stop_request
from engine.data.speech import Speech
from engine.data.timing import TimedWords
from engine.data.voices import pick_user_voice

STEP_SAMPLES = 1280  # G = 4 codec frames of 320 samples
RESPONSE_STEPS = 4  # assistant audio starts at (step of the question's end) + 4
MIN_INTERRUPTIBLE_S = 1.0  # answers shorter than this are never interrupted
MAX_TURNS = 4


@dataclass
class Augment:
    """How the user's channel is degraded (the assistant's channel stays clean)."""

    level_db: float = -22.0  # RMS of the user's speech, dBFS
    snr_db: float | None = None  # background noise relative to the speech; None: no noise
    noise_color: str = "white"  # white, pink or brown
    rt60_s: float | None = None  # synthetic room reverb decay time; None: dry
    band_hz: tuple[float, float] | None = None  # band-pass edges; None: full band


@dataclass
class TurnPlan:
    """One question/answer turn.

    Attributes:
        exchange: the question and answer.
        parts: the question's words split at an in-turn pause (one part when there is none).
        pause_s: silence between the parts.
        barge_in: fraction of this answer after which the next question starts (None: no interruption).
        stop_steps: steps the assistant keeps talking after the step in which a barge-in starts (1 or 2).
        gap_s: silence between the end of this answer and the next question.
    """

    exchange: Exchange
    parts: list[str]
    pause_s: float = 0.0
    barge_in: float | None = None
    stop_steps: int = 1
    gap_s: float = 1.0


@dataclass
class DialoguePlan:
    """Everything about a dialogue that is decided before any audio exists (deterministic from its seed)."""

    seed: int
    split: str
    voice: Voice
    clock: Clock
    turns: list[TurnPlan]
    lead_s: float
    tail_s: float
    augment: Augment = field(default_factory=Augment)

    def to_json(self) -> dict:
        """A JSON-able description (also the content the caches are keyed on)."""
        data = dataclasses.asdict(self)
        # The codes cache is keyed on this description, so it keeps the form it was first written in: the
        # clock's minute (the audio does not depend on how the context words it; the prefix is tokenized
        # afresh on every synth), and a voice's f0_hz only when one is set.
        data["clock"] = self.clock.context("digits")
        if not self.voice.f0_hz:
            del data["voice"]["f0_hz"]
        return data

    def content_hash(self) -> str:
        """sha256 of the JSON description, hex."""
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()


def _split_question(rng: random.Random, question: str) -> tuple[list[str], float]:
    words = question.split()
    if len(words) < 3 or rng.random() > 0.2:
        return [question], 0.0
    cut = rng.randint(1, len(words) - 1)
    return [" ".join(words[:cut]), " ".join(words[cut:])], rng.uniform(0.3, 0.8)


def _augment(rng: random.Random) -> Augment:
    return Augment(
        level_db=rng.uniform(-32.0, -16.0),
        snr_db=rng.uniform(12.0, 40.0) if rng.random() < 0.8 else None,
        noise_color=rng.choice(["white", "pink", "brown"]),
        rt60_s=rng.uniform(0.15, 0.6) if rng.random() < 0.35 else None,
        band_hz=rng.choice([(300.0, 3400.0), (100.0, 6000.0), (200.0, 8000.0)])
        if rng.random() < 0.25
        else None,
    )


def plan_dialogue(
    seed: int,
    split: str,
    interruption_rate: float = 0.3,
    voice_split: str | None = None,
    skill_weights: Mapping[str, float] | None = None,
) -> DialoguePlan:
    """Draw a dialogue of roughly 8-20 s: a user voice, a clock, 1-4 turns, pauses, maybe one barge-in.

    The words and phrasings come from `split`, the voice from `voice_split` (default: `split` too); the
    evaluation crosses them to tell voices the model never heard from words it never heard.
    `skill_weights` overrides some skills' shares (`engine.data.skills.skill_weights`)."""
    rng = random.Random(f"dialogue/{split}/{seed}")
    clock = Clock.random(rng, split)
    target_words = rng.randint(16, 34)  # ~0.45 s per spoken word, gaps included -> 8-20 s
    turns: list[TurnPlan] = []
    interrupted = rng.random() < interruption_rate
    words = 0
    while len(turns) < MAX_TURNS and (words < target_words or (turns and turns[-1].barge_in is not None)):
        if turns and turns[-1].barge_in is not None and rng.random() < 0.3:
            exchange = stop_request(rng, request(split, clock))  # the barge-in is often just "stop"
        else:
            exchange = random_exchange(rng, split, clock, weights=skill_weights)
        parts, pause = _split_question(rng, exchange.question)
        turns.append(
            TurnPlan(exchange, parts, pause, stop_steps=rng.choice([1, 2]), gap_s=rng.uniform(0.4, 1.6))
        )
        words += len(exchange.question.split()) + len(exchange.answer.split())
        can_barge = len(turns) < MAX_TURNS and len(exchange.answer.split()) >= 4  # long enough to cut into
        if interrupted and can_barge and (words >= target_words or rng.random() < 0.5):
            turns[-1].barge_in = rng.uniform(0.2, 0.7)
            interrupted = False
    turns[-1].barge_in = None  # nobody is left to interrupt the last answer
    return DialoguePlan(
        seed,
        split,
        pick_user_voice(rng, voice_split or split),
        clock,
        turns,
        rng.uniform(0.2, 1.0),
        rng.uniform(0.4, 1.0),
        _augment(rng),
    )


@dataclass
class Placed:
    """A piece of speech on the timeline: it starts at sample `offset`; audio from `cut` on is silenced."""

    speech: Speech | TimedWords  # timings alone in the text stage
    offset: int
    cut: int | None = None  # samples from `offset`

    @property
    def end(self) -> int:
        """Sample after the last audible one."""
        return self.offset + (
            self.speech.num_samples if self.cut is None else min(self.cut, self.speech.num_samples)
        )


@dataclass
class Timeline:
    """Both speakers placed on one clock. `turns` holds step indices, as written to the dataset's meta."""

    num_steps: int
    user: list[Placed]
    assistant: list[Placed]
    turns: list[dict]
    tools: list[str | None]
    questions: list[tuple[int, int]] = field(default_factory=list)  # per turn: first/last word sample


def layout(
    plan: DialoguePlan,
    questions: list[list[Speech | TimedWords]],
    answers: list[Speech | TimedWords],
) -> Timeline:
    """Place every turn's question parts and answer; the numbers follow the module docstring's rules.

    Args:
        plan: the dialogue plan.
        questions: for each turn, the speech of each of its question parts.
        answers: for each turn, the assistant's speech.
    """
    t = int(plan.lead_s * SAMPLE_RATE)
    user, assistant, turns, spans = [], [], [], []
    for turn, parts, answer in zip(plan.turns, questions, answers, strict=True):
        first = len(user)
        for speech in parts:
            user.append(Placed(speech, t))
            t += speech.num_samples + int(turn.pause_s * SAMPLE_RATE)
        last = user[-1]
        user_end = last.offset + int(last.speech.words[-1][2] * SAMPLE_RATE)
        spans.append((user[first].offset + int(user[first].speech.words[0][1] * SAMPLE_RATE), user_end))
        start_step = user_end // STEP_SAMPLES + RESPONSE_STEPS
        placed = Placed(answer, start_step * STEP_SAMPLES)
        assistant.append(placed)
        record = {
            "user_start": user[first].offset // STEP_SAMPLES,
            "user_end": user_end // STEP_SAMPLES,
            "asst_start": start_step,
            "interrupted_at": None,
        }
        if turn.barge_in is not None and answer.duration >= MIN_INTERRUPTIBLE_S:
            t = placed.offset + int(turn.barge_in * answer.num_samples)
            stop = t // STEP_SAMPLES + turn.stop_steps
            placed.cut = stop * STEP_SAMPLES - placed.offset
            record["interrupted_at"] = stop
        else:
            t = placed.end + int(turn.gap_s * SAMPLE_RATE)
        record["asst_end"] = -(-placed.end // STEP_SAMPLES)
        turns.append(record)
    end = max(p.end for p in user + assistant) + int(plan.tail_s * SAMPLE_RATE)
    tools = [turn.exchange.tool for turn in plan.turns]
    return Timeline(-(-end // STEP_SAMPLES), user, assistant, turns, tools, spans)
