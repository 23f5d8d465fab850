"""Scoring one evaluated dialogue turn by turn, and the per-skill report.

Per turn (reference turn bounds come from the dialogue's timeline; the answer window runs from the end
of the question to the start of the next one):
- `text_ok`: the monologue in the window, normalized, equals the expected answer, and the tool call
  (if the skill makes one) has the expected name and arguments;
- `audio_ok`: pocketsphinx's pick from the skill's answer grammar equals the expected answer;
- `free_wer`: word errors of pocketsphinx's free transcription against the expected answer;
- `latency_ms`: end of the question's last word -> first audible assistant step (None: no answer);
- for turns the user barged into, `stop_ms`: start of the user's barge-in -> first step after which
  the assistant stays silent for 2 steps.
Turns whose reference answer was interrupted are judged for stopping only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from audio.judge import word_errors
from audio.tts import SAMPLE_RATE
from engine.data.corpus import normalize_transcript
from engine.data.dialogue import STEP_SAMPLES, Timeline
from engine.data.skills import Exchange
from engine.eval.judge import SpeechJudge
from engine.eval.stream import Trace

AUDIBLE_RMS = 0.005  # about -46 dBFS: decoded digital-silence codes stay well below it


@dataclass
class TurnScore:
    """The judgement of one turn (None where a measure does not apply)."""

    skill: str
    question: str
    expected: str
    said: str | None = None
    heard: str | None = None
    text_ok: bool | None = None
    audio_ok: bool | None = None
    free_wer: float | None = None
    latency_ms: float | None = None
    interrupted: bool = False  # the user barged into this answer: judged for stopping only
    stop_ms: float | None = None


def audible_steps(audio: np.ndarray, steps: int) -> np.ndarray:
    """Per step, whether the assistant's audio is audible, bool [steps]."""
    chunks = np.zeros(steps * STEP_SAMPLES, np.float32)
    chunks[: min(len(audio), len(chunks))] = audio[: len(chunks)]
    return np.sqrt((chunks.reshape(steps, STEP_SAMPLES) ** 2).mean(axis=1)) > AUDIBLE_RMS


def _tool_ok(exchange: Exchange, calls: list[dict]) -> bool:
    if exchange.tool is None:
        return not calls
    name, _, args = exchange.tool.partition(" ")
    return any(c.get("name") == name and c.get("arguments") == json.loads(args) for c in calls)


def _stop_ms(audible: np.ndarray, barge_sample: int) -> float | None:
    start = barge_sample // STEP_SAMPLES
    for t in range(start, len(audible) - 1):
        if not audible[t] and not audible[t + 1]:
            return max(t * STEP_SAMPLES - barge_sample, 0) * 1000 / SAMPLE_RATE
    return None


def _judge_audio(score: TurnScore, wav: np.ndarray, skill: str, judge: SpeechJudge, free: bool) -> None:
    score.heard = judge.pick(wav, skill)
    score.audio_ok = score.heard == score.expected
    if free:
        errors, words = word_errors(score.expected, judge.transcribe(wav))
        score.free_wer = errors / max(words, 1)


def _answer_window(timeline: Timeline, turn: int, steps: int) -> slice:
    """Steps from the end of turn `turn`'s question to the start of the next question."""
    first = timeline.questions[turn][1] // STEP_SAMPLES + 1
    if turn + 1 == len(timeline.questions):
        return slice(first, steps)
    return slice(first, max(timeline.questions[turn + 1][0] // STEP_SAMPLES, first))


def score_turns(timeline: Timeline, exchanges: list[Exchange], trace: Trace, judge: SpeechJudge | None,
                free: bool = True) -> list[TurnScore]:  # fmt: skip
    """Judge every turn of one dialogue from the engine's trace (`judge` None: text measures only)."""
    audible = audible_steps(trace.audio, len(trace.text))
    scores = []
    for i, (turn, ex) in enumerate(zip(timeline.turns, exchanges, strict=True)):
        window = _answer_window(timeline, i, len(trace.text))
        score = TurnScore(ex.skill, ex.question, normalize_transcript(ex.answer))
        scores.append(score)
        heard = np.flatnonzero(audible[window])
        if len(heard):
            first_sample = (window.start + heard[0]) * STEP_SAMPLES
            score.latency_ms = (first_sample - timeline.questions[i][1]) * 1000 / SAMPLE_RATE
        score.interrupted = turn["interrupted_at"] is not None
        if score.interrupted:
            score.stop_ms = _stop_ms(audible, timeline.questions[i + 1][0])
            continue
        score.said = normalize_transcript("".join(trace.pieces[window]))
        calls = [call for t, call in trace.tool_calls if window.start <= t < window.stop]
        score.text_ok = score.said == score.expected and _tool_ok(ex, calls)
        if judge is None:
            continue
        if len(heard):
            wav = trace.audio[window.start * STEP_SAMPLES : window.stop * STEP_SAMPLES]
            _judge_audio(score, wav, ex.skill, judge, free)
        else:
            score.heard, score.audio_ok, score.free_wer = "", False, (1.0 if free else None)
    return scores


def user_wer(exchanges: list[Exchange], trace: Trace) -> tuple[int, int]:
    """(word errors, reference words) of the user transcript over a whole dialogue."""
    reference = " ".join(normalize_transcript(ex.question) for ex in exchanges)
    return word_errors(reference, "".join(trace.user_pieces))


def _share(values: list[bool | None]) -> float | None:
    judged = [v for v in values if v is not None]
    return round(sum(judged) / len(judged), 4) if judged else None


def _within(values: list[float | None], limit_ms: float, count: int) -> float | None:
    return round(sum(1 for v in values if v is not None and v <= limit_ms) / count, 4) if count else None


def _percentile(values: list[float | None], q: float) -> float | None:
    known = [v for v in values if v is not None]
    return round(float(np.percentile(known, q)), 1) if known else None


def _skill_row(group: list[TurnScore]) -> dict:
    answered = [s for s in group if not s.interrupted]
    latencies = [s.latency_ms for s in answered]
    wers = [s.free_wer for s in answered if s.free_wer is not None]
    return {
        "turns": len(answered),
        "text_accuracy": _share([s.text_ok for s in answered]),
        "audio_accuracy": _share([s.audio_ok for s in answered]),
        "free_answer_wer": round(float(np.mean(wers)), 4) if wers else None,
        "latency_ms_p50": _percentile(latencies, 50),
        "latency_ms_p90": _percentile(latencies, 90),
        "answered_within_300ms": _within(latencies, 300.0, len(answered)),
    }


def report(scores: list[TurnScore], user_errors: tuple[int, int], step_ms: list[float]) -> dict:
    """Per-skill and overall accuracy, WER and latency numbers (JSON-able)."""
    skills = {
        skill: _skill_row([s for s in scores if s.skill == skill])
        for skill in sorted({s.skill for s in scores})
    }
    skills["all"] = _skill_row(scores)
    stops = [s.stop_ms for s in scores if s.interrupted]
    step = np.asarray(step_ms) if step_ms else np.zeros(1)
    return {
        "skills": skills,
        "interruptions": len(stops),
        "stopped_within_150ms": _within(stops, 150.0, len(stops)),
        "stop_ms_p50": _percentile(stops, 50),
        "user_transcript_wer": round(user_errors[0] / max(user_errors[1], 1), 4),
        "step_ms_p50": round(float(np.percentile(step, 50)), 2),
        "step_ms_p95": round(float(np.percentile(step, 95)), 2),
        "turn_details": [asdict(s) for s in scores],
    }


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_table(result: dict) -> str:
    """The per-skill report as a fixed-width text table."""
    lines = [f"{'skill':<11} {'turns':>5} {'text':>6} {'audio':>6} {'WER':>6} {'lat p50':>8} {'<=300ms':>8}"]
    for skill, r in result["skills"].items():
        cells = [
            _cell(r["text_accuracy"], ".2f"),
            _cell(r["audio_accuracy"], ".2f"),
            _cell(r["free_answer_wer"], ".2f"),
            _cell(r["latency_ms_p50"], ".0f"),
            _cell(r["answered_within_300ms"], ".2f"),
        ]
        lines.append(
            f"{skill:<11} {r['turns']:>5} "
            + " ".join(f"{c:>{w}}" for c, w in zip(cells, (6, 6, 6, 8, 8), strict=True))
        )
    stopped = _cell(result["stopped_within_150ms"], ".2f")
    lines.append(
        f"interruptions {result['interruptions']}, stopped within 150 ms: {stopped}; "
        f"user transcript WER {result['user_transcript_wer']:.2f}; "
        f"step {result['step_ms_p50']:.1f} ms p50, {result['step_ms_p95']:.1f} ms p95"
    )
    return "\n".join(lines)
