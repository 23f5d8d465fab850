"""`hark eval engine`: held-out spoken dialogues through codec -> engine -> codec, scored per skill.

The dialogues are test-split plans (held-out voices and words, held-out phrasings half the time), drawn
from seeds that `hark data synth` never uses, rendered with the same pipeline as the training data.
`--split train` draws new dialogues from the training split instead (seen voices, words and phrasings):
a diagnostic that tells a model that has not learned the skills from one that does not generalise. The
reference answers (flite `rms`, with the data's timing) are also scored, as an oracle: that row is the
ceiling the pocketsphinx judge allows (a perfect engine would reach it).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.data.align import monologue, transcript
from engine.data.dialogue import DialoguePlan, Timeline, layout, plan_dialogue
from engine.data.render import render
from engine.data.skills import SPLITS
from engine.data.synth import cached_speech
from engine.data.voices import ASSISTANT_VOICE
from engine.eval.config import EvalConfig
from engine.eval.judge import SpeechJudge
from engine.eval.score import report, score_turns, user_wer
from engine.eval.stream import Trace, monologue_trace, run_stream
from engine.tokenizer import TextTokenizer

log = logging.getLogger(__name__)
SEED_OFFSET = 10_000_000  # far from the seeds `hark data synth` uses (seed * 1_000_003 + index)


@dataclass
class Case:
    """One evaluation dialogue, rendered."""

    plan: DialoguePlan
    timeline: Timeline
    user: np.ndarray  # float32 user channel
    assistant: np.ndarray  # float32 reference assistant channel


def make_cases(config: EvalConfig) -> list[Case]:
    """Render the dialogues of `config.split` (speech is cached under `config.cache`)."""
    if config.split not in SPLITS:
        raise ValueError(f"--split must be one of {SPLITS}, not {config.split!r}")
    if config.voices not in ("", *SPLITS):
        raise ValueError(f"--voices must be one of {SPLITS} or empty, not {config.voices!r}")
    cache, cases = Path(config.cache), []
    for i in range(config.dialogues):
        seed = SEED_OFFSET + config.seed * 100_000 + i
        plan = plan_dialogue(seed, config.split, config.interruption_rate, config.voices or None)
        questions = [[cached_speech(p, plan.voice, cache) for p in t.parts] for t in plan.turns]
        answers = [cached_speech(t.exchange.answer, ASSISTANT_VOICE, cache) for t in plan.turns]
        timeline = layout(plan, questions, answers)
        user, assistant = render(timeline, plan.augment, seed=plan.seed)
        cases.append(Case(plan, timeline, user, assistant))
    return cases


def reference_trace(case: Case, tokenizer: TextTokenizer) -> Trace:
    """What a perfect engine would output for `case`: the data's own streams and reference audio."""
    text, user_text = monologue(case.timeline, tokenizer), transcript(case.timeline, tokenizer)
    return monologue_trace(text, user_text, tokenizer, case.assistant)


def answer_due(case: Case, step_seconds: float, config: EvalConfig) -> dict[int, int]:
    """Step at which the service would request each answer -> the step its question ended."""
    if config.request_answer_ms <= 0:
        return {}
    wait = math.ceil(config.request_answer_ms / 1000 / step_seconds)
    return {turn["user_end"] + wait: turn["user_end"] for turn in case.timeline.turns}


def load_eval_engine(config: EvalConfig):  # noqa: ANN202 - engine.engine.Engine, imported lazily
    """The engine `config.engine` names ("default", a checkpoint folder or "random" at `config.preset`)."""
    from engine.model_spec import engine_from_spec

    spec = f"random:{config.preset}" if config.engine == "random" else config.engine
    return engine_from_spec(spec)


def evaluate(config: EvalConfig, progress: bool = True) -> dict:
    """Run and score the dialogues of `config.split`; writes and returns the report (engine and oracle)."""
    from engine.data.encode import open_codec

    engine, codec = load_eval_engine(config), open_codec(config.codec).codec
    engine.check_codec(codec.codes_id)
    judge = SpeechJudge() if config.judge else None
    cases = make_cases(config)
    runs: dict[str, tuple[list, list, list]] = {"engine": ([], [0, 0], []), "reference": ([], [0, 0], [])}
    for case in tqdm(cases, desc="eval", unit="dlg", disable=not progress):
        exchanges = [t.exchange for t in case.plan.turns]
        due = answer_due(case, engine.step_seconds, config)
        traces = {
            "engine": run_stream(
                engine, codec, case.user, case.plan.clock.context(engine.clock_context), answer_due=due
            ),
            "reference": reference_trace(case, engine.tokenizer),
        }
        for name, trace in traces.items():
            scores, errors, step_ms = runs[name]
            scores += score_turns(case.timeline, exchanges, trace, judge, config.free_wer)
            words = user_wer(exchanges, trace)
            errors[0], errors[1] = errors[0] + words[0], errors[1] + words[1]
            step_ms += trace.step_ms
    result = {name: report(*run) for name, run in runs.items()}
    result["config"] = asdict(config)
    Path(config.out).parent.mkdir(parents=True, exist_ok=True)
    Path(config.out).write_text(json.dumps(result, indent=2) + "\n")
    return result
