"""`hark eval engine --stage text`: the text stage's held-out dialogues, decoded as the engine streams.

Each dialogue is a test-split text dialogue (engine/data/text_dialogue.py: held-out phrasings half the
time, held-out words, clocks and number pairs always). The model runs step by step through the engine's
own bounded caches (engine/kv_cache.py), so positions and windows are those of a live session: the user
transcript is teacher-forced (the reference tokens are its inputs), the monologue is the model's own,
greedy with the engine's PAD-mass rule, fed back step by step. The audio inputs are START, as in
training. A turn is right when its monologue says exactly the expected answer and, for a timer, makes
exactly the expected tool call (engine/eval/score.py, the spoken evaluation's text measure).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from engine.data.text_dialogue import TextDialogue, text_dialogue
from engine.eval.score import TurnScore, score_turns
from engine.eval.stream import monologue_trace
from engine.kv_cache import KVCachePool, Segment
from engine.model import OmniModel
from engine.sampling import greedy_text
from engine.tokenizer import BOS_ID, PAD_ID, TextTokenizer

SEED_OFFSET = 30_000_000  # far from the training stream's seeds (TextWindows: seed * 1_000_003 + index)


def text_cases(dialogues: int, seed: int, tokenizer: TextTokenizer) -> list[TextDialogue]:
    """The first `dialogues` held-out text dialogues of evaluation seed `seed`."""
    base = SEED_OFFSET + seed * 100_000
    return [text_dialogue(base + i, "test", tokenizer) for i in range(dialogues)]


@torch.inference_mode()
def decode_monologues(model: OmniModel, cases: list[TextDialogue]) -> list[np.ndarray]:
    """The model's greedy monologue for each case (int64 [S] each), all cases as one batch."""
    cfg, B = model.config, len(cases)
    dtype, dev = model.text_head.weight.dtype, model.text_head.weight.device
    pool = KVCachePool(model, dtype, sessions=B)
    states = [pool.open() for _ in cases]
    for state, case in zip(states, cases, strict=True):
        tokens = [int(t) for t in case.prefix[: cfg.max_context]]
        state.segments = [Segment(tokens)]
        views, caches = pool.plan(model, [state], steps=0, context=len(tokens))
        model.backbone(model.embed_context(torch.tensor([tokens], device=dev)).to(dtype), views, caches)
    steps = max(len(c.text) for c in cases)
    heard = np.full((B, steps), PAD_ID, np.int64)
    for b, case in enumerate(cases):
        heard[b, : len(case.user_text)] = case.user_text
    no_audio = torch.full((B, 1, cfg.num_codebooks, cfg.frames_per_step), cfg.start_code, device=dev)
    said = torch.full((B, steps), PAD_ID, dtype=torch.long)
    previous = torch.full((B, 1), BOS_ID, dtype=torch.long, device=dev)
    for t in range(steps):
        user_text_in = torch.from_numpy(heard[:, t - 1 : t] if t else np.full((B, 1), BOS_ID)).to(dev)
        views, caches = pool.plan(model, states, steps=1)
        h = model.embed_steps(no_audio, previous, user_text_in, no_audio)
        h, _ = model.backbone(h.to(dtype), views, caches)
        token = greedy_text(model.heads(h, audio=False).text[:, -1].float(), PAD_ID)  # [B]
        said[:, t] = token.cpu()
        previous = token[:, None]
    return [said[b, : len(case.text)].numpy() for b, case in enumerate(cases)]


def _batches(cases: list[TextDialogue], size: int) -> Iterator[list[TextDialogue]]:
    for i in range(0, len(cases), size):
        yield cases[i : i + size]


def score_text_stage(
    model: OmniModel,
    tokenizer: TextTokenizer,
    cases: list[TextDialogue],
    batch_size: int = 64,
    progress: bool = False,
) -> list[TurnScore]:
    """Decode every case and judge each of its turns by text (answer words and tool call)."""
    scores: list[TurnScore] = []
    batches = list(_batches(cases, batch_size))
    for batch in tqdm(batches, desc="text eval", unit="batch", disable=not progress):
        for case, said in zip(batch, decode_monologues(model, batch), strict=True):
            trace = monologue_trace(said, case.user_text, tokenizer)
            exchanges = [turn.exchange for turn in case.plan.turns]
            scores += score_turns(case.timeline, exchanges, trace, judge=None)
    return scores


def text_report(scores: list[TurnScore], dialogues: int) -> dict:
    """Exact-match counts per skill and overall (JSON-able), with a few wrong answers to read."""
    skills = {}
    for skill in sorted({s.skill for s in scores}) + ["all"]:
        group = [s for s in scores if skill in ("all", s.skill)]
        right = sum(bool(s.text_ok) for s in group)
        skills[skill] = {"turns": len(group), "correct": right, "accuracy": round(right / len(group), 4)}
    wrong = [
        {"skill": s.skill, "question": s.question, "expected": s.expected, "said": s.said}
        for s in scores
        if not s.text_ok
    ]
    return {"dialogues": dialogues, "skills": skills, "wrong": wrong[:50]}


def format_text_report(report: dict) -> str:
    """The per-skill table and the closing `text stage: N/M correct (P %)` line."""
    lines = [f"{'skill':<11} {'turns':>6} {'correct':>8} {'exact':>7}"]
    for skill, row in report["skills"].items():
        lines.append(f"{skill:<11} {row['turns']:>6} {row['correct']:>8} {row['accuracy']:>7.1%}")
    for miss in report["wrong"][:5]:
        lines.append(f"  wrong ({miss['skill']}): {miss['question']!r} -> {miss['said']!r}")
    total = report["skills"]["all"]
    lines.append(
        f"text stage: {total['correct']}/{total['turns']} correct ({100 * total['accuracy']:.1f} %) "
        f"in {report['dialogues']} held-out dialogues"
    )
    return "\n".join(lines)


def evaluate_text_stage(
    model: OmniModel, tokenizer: TextTokenizer, dialogues: int, seed: int = 0, out: str | None = None
) -> dict:
    """Score `dialogues` held-out text dialogues; writes the report as JSON to `out` when given."""
    cases = text_cases(dialogues, seed, tokenizer)
    report = text_report(score_text_stage(model, tokenizer, cases, progress=out is not None), dialogues)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(report, indent=2) + "\n")
    return report
