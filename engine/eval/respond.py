"""`hark respond IN.wav OUT.wav`: one recorded question through the whole pipeline, offline."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np

from audio.tts import SAMPLE_RATE, resample
from engine.data.clock import Clock
from engine.data.corpus import normalize_transcript
from engine.data.dialogue import STEP_SAMPLES
from engine.eval.score import audible_steps
from engine.eval.stream import run_stream

if TYPE_CHECKING:
    from audio.codec import Codec
    from engine.engine import Engine

SPEECH_RMS = 0.01  # input steps louder than this count as the user speaking
STEP_MS = 1000 * STEP_SAMPLES / SAMPLE_RATE


def respond(
    engine: Engine, codec: Codec, wav: np.ndarray, rate: int, tail_s: float = 4.0, context: str | None = None
) -> tuple[np.ndarray, dict]:
    """Stream `wav` (any rate, mono) plus `tail_s` of silence; returns (assistant audio 24 kHz, summary).

    The summary holds the monologue, the user transcript, tool calls, and timings in steps and ms: the
    question's end (last loud input step), the first audible answer step, and per-step compute time.
    """
    user = resample(np.asarray(wav, np.float32), rate, SAMPLE_RATE)
    user = np.concatenate([user, np.zeros(int(tail_s * SAMPLE_RATE), np.float32)])
    context = Clock(dt.datetime.now()).context(engine.clock_context) if context is None else context
    trace = run_stream(engine, codec, user, context)
    steps = len(trace.text)
    loud = _loud_steps(user, steps)
    question_end = int(np.flatnonzero(loud)[-1]) if loud.any() else None
    heard = audible_steps(trace.audio, steps)
    after = np.flatnonzero(heard[(question_end or 0) + 1 :])
    first_answer = (question_end or 0) + 1 + int(after[0]) if len(after) else None
    summary = {
        "context": context,
        "monologue": "".join(trace.pieces).strip(),
        "user_transcript": normalize_transcript("".join(trace.user_pieces)),
        "tool_calls": [{"step": t, **call} for t, call in trace.tool_calls],
        "steps": steps,
        "question_end_step": question_end,
        "first_answer_step": first_answer,
        "response_latency_ms": _latency_ms(question_end, first_answer),
        "step_compute_ms_p50": round(float(np.median(trace.step_ms)), 2),
        "real_time_factor": round(float(np.mean(trace.step_ms)) / STEP_MS, 3),
    }
    return trace.audio, summary


def _loud_steps(wav: np.ndarray, steps: int) -> np.ndarray:
    x = np.zeros(steps * STEP_SAMPLES, np.float32)
    x[: min(len(wav), len(x))] = wav[: len(x)]
    return np.sqrt((x.reshape(steps, STEP_SAMPLES) ** 2).mean(axis=1)) > SPEECH_RMS


def _latency_ms(question_end: int | None, first_answer: int | None) -> float | None:
    if question_end is None or first_answer is None:
        return None
    return round((first_answer - question_end) * STEP_MS, 1)
