"""Run recorded user audio through the real streaming pipeline: codec encoder -> engine -> codec decoder.

Simulated real time: the audio is fed one 53 ms chunk per engine step, in order, exactly as the service
feeds a microphone; the steps just run as fast as the CPU allows. The per-step compute time is kept so
the real-time factor can be reported.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np

from audio.codec import Codec
from engine.engine import Engine, SamplingConfig
from engine.tokenizer import EOS_ID, PAD_ID, TOOL_ID, TextTokenizer


@dataclass
class Trace:
    """Everything the assistant produced, step by step.

    Attributes:
        text: monologue token per step, int64 [S].
        pieces: monologue text per step ("" for PAD, specials and tool-line tokens).
        user_pieces: user-transcript text per step.
        speaking: the engine's `speaking` flag per step, bool [S].
        tool_calls: (step, call) for every completed tool line.
        audio: the assistant's decoded audio, float32 [S * step_samples], chunk t at step t.
        step_ms: compute time of each step (codec encode + engine step + codec decode).
    """

    text: np.ndarray
    pieces: list[str]
    user_pieces: list[str]
    speaking: np.ndarray
    tool_calls: list[tuple[int, dict]] = field(default_factory=list)
    audio: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    step_ms: list[float] = field(default_factory=list)


def monologue_trace(
    text: np.ndarray, user_text: np.ndarray, tokenizer: TextTokenizer, audio: np.ndarray | None = None
) -> Trace:
    """The Trace of given text streams (token per step): pieces as the engine streams them, tool lines
    parsed into calls (their tokens show no text), `audio` as the assistant's sound (default: none)."""
    pieces, tools, tool_tokens = [], [], None
    for t, token in enumerate(text):
        if token == TOOL_ID:
            tool_tokens = []
        elif tool_tokens is not None and token == EOS_ID:
            tools.append((t, parse_tool_line(tokenizer.decode(tool_tokens))))
            tool_tokens = None
        elif tool_tokens is not None:
            tool_tokens.append(int(token))
        pieces.append("" if tool_tokens is not None else tokenizer.piece(int(token)))
    user_pieces = [tokenizer.piece(int(t)) for t in user_text]
    sound = np.zeros(0, np.float32) if audio is None else audio
    return Trace(np.asarray(text, np.int64), pieces, user_pieces, np.zeros(len(text), bool), tools, sound)


def parse_tool_line(line: str) -> dict:
    """`name {json}` -> {"name": ..., "arguments": ...}; arguments None when the JSON does not parse."""
    name, _, args = line.strip().partition(" ")
    try:
        arguments = json.loads(args)
    except json.JSONDecodeError:
        arguments = None
    return {"name": name, "arguments": arguments}


def run_stream(
    engine: Engine,
    codec: Codec,
    user_wav: np.ndarray,
    context: str = "",
    sampling: SamplingConfig | None = None,
    answer_due: dict[int, int] | None = None,
) -> Trace:
    """Stream `user_wav` (float32 24 kHz; zero-padded to whole steps) through codec, engine and codec.

    `answer_due` maps a step to the step a question ended: if the engine has not spoken since, it is told
    `start_turn()` at that step, as the service does when it has heard a turn server VAD committed.
    """
    step_samples = engine.frames_per_step * codec.frame_size
    steps = -(-len(user_wav) // step_samples)
    wav = np.zeros(steps * step_samples, np.float32)
    wav[: len(user_wav)] = user_wav
    encoder, decoder = codec.stream_encoder(), codec.stream_decoder()
    session = engine.new_session(context=context, sampling=sampling)
    text, pieces, user_pieces, speaking, tools, audio, step_ms = [], [], [], [], [], [], []
    for t in range(steps):
        start = time.perf_counter()
        codes = encoder.encode(wav[t * step_samples : (t + 1) * step_samples])  # [K, G]
        if answer_due and t in answer_due and not any(speaking[answer_due[t] :]):
            session.start_turn()
        out = engine.step([session], codes[None])[0]
        audio.append(decoder.decode(out.audio_codes))
        step_ms.append(1000 * (time.perf_counter() - start))
        text.append(out.text_token)
        pieces.append(out.text_piece)
        user_pieces.append(out.user_text_piece)
        speaking.append(out.speaking)
        if out.tool_call is not None:
            tools.append((t, out.tool_call))
    session.close()
    return Trace(
        np.asarray(text if text else [PAD_ID], np.int64)[:steps],
        pieces,
        user_pieces,
        np.asarray(speaking, bool),
        tools,
        np.concatenate(audio) if audio else np.zeros(0, np.float32),
        step_ms,
    )
