"""One realtime session: the input buffer, server VAD, turn-taking, barge-in and the full-duplex engine loop.

The engine runs continuously: `run()` takes one 53 ms chunk of input at a time (1280 samples of PCM, or 4
frames of codes in token mode), encodes it and runs server VAD on it in a worker thread, steps the engine
through the shared `Scheduler`, and turns the step's output into events. The asyncio loop never computes.

Input pacing (docs/protocol.md, "Input pacing"): buffered client audio is consumed as fast as the engine
allows. When the buffer runs dry the engine waits, except while an answer is expected: then it steps on
digital silence at real-time pace, so a client that sends a whole question at once and then nothing still
gets its answer. An answer is expected while a response is requested or active, and for a while after a
commit (long enough for the transcript, and for the engine to answer on its own when `create_response`).
Silence is inserted at once after a client's commit or `response.create`, otherwise after `STARVED_GRACE_S`
without input, so a real-time client's network jitter does not put gaps into the user's speech.

Turn-taking: the engine decides when to speak. A response exists from the step it starts speaking
(`StepOutput.speaking`) until its turn ends (EOS or `END_QUIET_STEPS` quiet steps), the step limit
(`max_output_tokens`, in steps) is reached, or it is cancelled. Automatic responses (server_vad with
`create_response`) open on a rising edge of `speaking` while server VAD hears no user speech;
`response.create` opens a response at once, which takes the engine's speech from the first speaking step
after the input sent before it (the engine has no "speak now" control yet; see docs/protocol.md). With
`interrupt_response`, user speech (lasting `min_speech_ms`) during a response cancels it at once
(turn_detected): no further audio is sent, and the engine is told `silence()` and `truncate()` to what
was sent (the client's `conversation.item.truncate` later cuts it to what was played).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from app import events as ev
from app import protocol as p
from app.media import InputBuffer, SessionMedia
from app.responses import Response, Responses
from app.turns import TAIL_STEPS, UserTurns
from audio.codec import Codec
from audio.vad import SegmenterConfig, SileroVad, SpeechEvent, SpeechSegmenter
from engine.engine import Engine, SamplingConfig
from engine.scheduler import Scheduler, SessionHandle
from engine.session import StepOutput

log = logging.getLogger(__name__)

STARVED_GRACE_S = 0.15  # input gap tolerated before silence is inserted while an answer is expected
END_QUIET_STEPS = 8  # steps without speech that end a response whose turn never said EOS
ANSWER_WINDOW_S = 8.0  # how long after a commit or response.create the engine may take to start answering
TRANSCRIPT_SPEECH_STEPS = 6  # token mode: steps after a transcribed user piece that count as speech


@dataclass
class SessionRuntime:
    """What all sessions share: models, the engine scheduler, the worker threads and per-session limits."""

    engine: Engine
    codec: Codec
    scheduler: Scheduler
    vad: SileroVad
    executor: Executor  # runs codec and VAD work off the event loop
    instructions: str = ""  # default text context of every session
    seed: int | None = None  # sampling seed of every session (None: random)
    max_input_ahead_s: float = 30.0  # client audio may run this far ahead of real time, then errors
    clock: Callable[[], str] = field(default=lambda: "")  # the current-time context line

    def hark_info(self) -> dict:
        """The `hark` object of session.created: what a token-mode client needs to know."""
        c = self.codec
        return {
            "protocol_version": p.FRAME_VERSION,
            "step_ms": round(1000 * self.engine.step_seconds, 3),
            "frames_per_step": self.engine.frames_per_step,
            "codec": {
                "sample_rate": c.sample_rate,
                "frame_size": c.frame_size,
                "num_codebooks": c.num_codebooks,
                "cardinality": c.cardinality,
                "checkpoint_sha256": c.checkpoint_sha256,
            },
        }


class RealtimeSession:
    """One client's conversation. Feed client messages to `handle_text`/`handle_binary`; await `run()`.

    Args:
        runtime: shared models, scheduler and limits.
        emit: queues one server message (dict -> JSON text frame, bytes -> binary frame) without
            blocking; the server closes the connection when the client cannot keep up.
    """

    def __init__(self, runtime: SessionRuntime, emit: Callable[[dict | bytes], None]):
        self.rt, self._emit = runtime, emit
        self.id = ev.new_id("sess")
        self.config = p.SessionConfig(instructions=runtime.instructions)
        engine = runtime.engine
        self._G, self._step_s = engine.frames_per_step, engine.step_seconds
        self._step_samples = engine.frames_per_step * runtime.codec.frame_size
        self._max_delay = max(engine.config.audio_delays)
        self._silence_codes = np.array(engine.config.silence_codes, np.int64)
        self.responses = Responses(emit, self._G, runtime.codec.frame_rate)
        self.turns = UserTurns(emit, self._step_samples, runtime.codec.sample_rate)
        self._media = SessionMedia(runtime.codec, runtime.vad)
        self._segmenter = SpeechSegmenter(SegmenterConfig())
        self._reset_input()
        self.handle: SessionHandle | None = None
        self._pending_context: list[str] = []
        self._wake = asyncio.Event()
        self._consumed = 0  # input position: samples the engine has consumed
        self._received_s = 0.0  # client audio seconds received
        self._input_closed = False  # the client committed / asked for a response since its last audio
        self._starved_at: float | None = None
        self._pad_clock = 0.0  # earliest time of the next silence chunk
        self._pad_position = 0  # silence may be inserted until the input reaches this position ...
        self._answer_until = 0.0  # ... or until this time (waiting for an automatic answer)
        self._prev_speaking = False
        self._speech_end_at: float | None = None
        self._input_end_at: float | None = None
        self._commit_position: int | None = None
        self._heard_at_step = -(1 << 30)  # token mode: last step with a user-transcript piece
        self.started_at = time.monotonic()
        self.stats = {"steps": 0, "padded_steps": 0, "audio_in_s": 0.0, "errors": 0, "barge_ins": 0}

    # ----- client messages -----
    def start(self) -> None:
        """Announce the session (session.created)."""
        self._emit(ev.server_event("session.created", session=self._session_json()))

    def handle_text(self, text: str) -> None:
        """One JSON client event; mistakes become `error` events."""
        event = None
        try:
            event = p.parse_client_event(text)
            self._dispatch(event)
        except p.ProtocolError as e:
            if e.event_id is None and event is not None:
                e.event_id = event.event_id
            self.error(e)

    def handle_binary(self, data: bytes) -> None:
        """One binary message: codes in token mode, an error otherwise."""
        try:
            if self.config.input_format != p.TOKENS_FORMAT:
                raise p.ProtocolError(
                    "binary_not_negotiated",
                    f"binary frames need session.audio.input.format {{'type': '{p.TOKENS_FORMAT}'}} first",
                )
            frame = p.decode_token_frame(data, self.rt.codec.num_codebooks, self.rt.codec.cardinality)
            self._accept_input(frame.codes, frame.codes.shape[1] * self.rt.codec.frame_size, None)
        except p.ProtocolError as e:
            self.error(e)

    def error(self, error: p.ProtocolError) -> None:
        """Send an `error` event."""
        self.stats["errors"] += 1
        self._emit(ev.error_event(error))

    def _dispatch(self, event: p.ClientEvent) -> None:
        handlers = {
            p.SessionUpdate: self._update_session,
            p.AudioAppend: self._append,
            p.AudioCommit: self._commit,
            p.AudioClear: self._clear,
            p.ItemCreate: self._create_item,
            p.ItemTruncate: self._truncate,
            p.ResponseCreate: self._create_response,
            p.ResponseCancel: self._cancel_response,
        }
        handlers[type(event)](event)

    def _append(self, event: p.AudioAppend) -> None:
        if self.config.input_format == p.TOKENS_FORMAT:
            raise p.ProtocolError("invalid_value", "input format is tokens: send binary frames", "audio")
        if len(event.pcm):
            self._accept_input(event.pcm.astype(np.float32) / 32768.0, len(event.pcm), event.event_id)

    def _clear(self, event: p.AudioClear) -> None:
        turn = self.turns.clear()
        if turn is not None:  # audio the engine has consumed cannot be taken back
            unheard = self._input_position() - max(turn.start, self._consumed)
            self._fifo.drop_tail(max(0, unheard) * self._unit() // self._step_samples)
        self._emit(ev.server_event("input_audio_buffer.cleared"))

    def _cancel_response(self, event: p.ResponseCancel) -> None:
        resp = self.responses.current
        if resp is None or event.response_id not in (None, resp.id):
            raise p.ProtocolError("response_cancel_not_active", "no such response in progress", "response_id")
        self._stop(resp, "cancelled", "client_cancelled")

    def _update_session(self, event: p.SessionUpdate) -> None:
        old = self.config
        self.config, warnings = old.update(event.session)
        for warning in warnings:
            self._emit(ev.warning_event(warning, event.event_id))
        if self.config.input_format != old.input_format:
            self._reset_input()
        if self.config.instructions != old.instructions:
            self._add_context(self.config.instructions)
        td = self.config.turn_detection
        if td is not None:
            self._segmenter.config = SegmenterConfig(
                td.threshold, td.prefix_padding_ms, td.silence_duration_ms, td.min_speech_ms
            )
        self._emit(ev.server_event("session.updated", session=self._session_json()))

    def _accept_input(self, data: np.ndarray, samples: int, event_id: str | None) -> None:
        seconds = samples / self.rt.codec.sample_rate
        ahead = self._received_s + seconds - (time.monotonic() - self.started_at)
        if ahead > self.rt.max_input_ahead_s:
            raise p.ProtocolError(
                "input_rate_exceeded",
                f"input audio is {ahead:.1f} s ahead of real time (limit {self.rt.max_input_ahead_s:g} s); "
                "this chunk was dropped: send audio at real-time pace",
                "audio",
                event_id,
            )
        self._received_s += seconds
        self.stats["audio_in_s"] += seconds
        self.turns.ensure_open(self._input_position())
        self._fifo.push(data)
        self._input_closed = False
        self._wake.set()

    def _commit(self, event: p.AudioCommit) -> None:
        if self.turns.open is None:
            raise p.ProtocolError(
                "input_audio_buffer_commit_empty", "the input audio buffer is empty: append audio first"
            )
        self._fifo.pad_to(self._unit())  # complete the last chunk with silence: all committed audio is heard
        self.turns.commit(self._input_position())
        self._input_closed = True  # the client says its input is over: no need to wait for more
        self._end_of_input(self._input_position())

    def _end_of_input(self, position: int) -> None:
        """After a commit at `position`: silence may follow it, for the transcript tail (and an answer, once
        the engine has heard the committed audio: see `_process`)."""
        self._pad_position = max(self._pad_position, position + (TAIL_STEPS + 1) * self._step_samples)
        self._input_end_at = None  # set when the engine has consumed the committed audio
        self._commit_position = position
        self._wake.set()

    def _create_item(self, event: p.ItemCreate) -> None:
        item_id = event.item_id or ev.new_id("item")
        if event.item_type == "function_call_output":
            item = ev.function_output_item(item_id, event.call_id or "", event.text)
            self._add_context(f"tool result: {event.text}")
        else:
            kind = "output_text" if event.role == "assistant" else "input_text"
            item = ev.message_item(item_id, event.role, [{"type": kind, "text": event.text}])
            self._add_context(event.text)
        previous, self.turns.last_item_id = self.turns.last_item_id, item_id
        for kind in ("conversation.item.created", "conversation.item.added"):
            self._emit(ev.server_event(kind, item=item, previous_item_id=previous))
        self._emit(ev.server_event("conversation.item.done", item=item))

    def _truncate(self, event: p.ItemTruncate) -> None:
        current = self.responses.current
        if current is not None and current.item_id == event.item_id:
            self._stop(current, "cancelled", "client_cancelled")
        resp = self.responses.truncate(event.item_id, event.audio_end_ms)
        frames = self.responses.engine_frames(resp, resp.frames_sent)
        if frames is not None and self.handle is not None:
            self.handle.session.truncate(frames)

    def _create_response(self, event: p.ResponseCreate) -> None:
        if self.responses.current is not None:
            raise p.ProtocolError(
                "conversation_already_has_active_response",
                f"response {self.responses.current.id} is still in progress; cancel it first",
            )
        for warning in event.warnings:
            self._emit(ev.warning_event(warning, event.event_id))
        if event.instructions:
            self._add_context(event.instructions)
        limit = event.max_output_tokens if event.max_output_tokens_set else self.config.max_output_tokens
        self.responses.create(self._input_position(), limit)
        self._input_closed = True
        self._wake.set()

    def _add_context(self, text: str) -> None:
        """Text context for the engine (omni input): at the session's start, or injected mid-stream."""
        if not text.strip():
            return
        if self.handle is None:
            self._pending_context.append(text)
        else:
            self.handle.session.inject_text(text)

    # ----- the engine loop -----
    async def run(self) -> None:
        """Step the engine whenever input (or inserted silence) is due; runs until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            chunk, padded = await self._next_chunk()
            self.stats["padded_steps"] += padded
            await self._process(loop, chunk)

    async def _next_chunk(self) -> tuple[np.ndarray, bool]:
        while True:
            unit = self._unit()  # a session.update may switch the input format while this waits
            if self._fifo.size >= unit:
                self._starved_at = None
                return self._fifo.pop(unit), False
            now = time.monotonic()
            self._starved_at = self._starved_at or now
            delay = self._pad_delay(now)
            if delay is not None and delay <= 0:
                self._pad_clock = now + self._step_s
                return self._fifo.pop(unit, pad=True), True
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def _pad_delay(self, now: float) -> float | None:
        """Seconds until silence may be inserted (<= 0: now), None while no answer is expected."""
        expected = self.responses.current or now < self._answer_until or self._consumed < self._pad_position
        if not expected:
            return None
        ready = self._starved_at + (0.0 if self._input_closed else STARVED_GRACE_S)
        return max(self._pad_clock, ready) - now

    async def _process(self, loop: asyncio.AbstractEventLoop, chunk: np.ndarray) -> None:
        t0 = time.monotonic()
        vad_on = self.config.turn_detection is not None
        tokens_in = self.config.input_format == p.TOKENS_FORMAT
        if tokens_in:
            codes, probs = chunk, []
        else:
            codes, probs = await loop.run_in_executor(self.rt.executor, self._media.analyse, chunk, vad_on)
        t1 = time.monotonic()
        position, self._consumed = self._consumed, self._consumed + self._step_samples
        for prob in probs:
            self._on_speech(self._segmenter.update(prob), prob)
        out = await (self.handle or await self._open_engine()).step(codes)
        t2 = time.monotonic()
        self.stats["steps"] += 1
        if tokens_in and vad_on:
            self._transcript_vad(out)
        if self._commit_position is not None and self._consumed >= self._commit_position:
            self._input_end_at, self._commit_position = t2, None
            td = self.config.turn_detection
            if td is not None and td.create_response:  # the engine may now answer on its own
                self._answer_until = t2 + ANSWER_WINDOW_S
        self.turns.transcribe(out.user_text_piece, position)
        self.turns.advance(self._consumed)
        await self._respond(loop, out, {"analyse": t1 - t0, "engine": t2 - t1})

    def _transcript_vad(self, out: StepOutput) -> None:
        """Token mode has no audio to run VAD on: the engine's own transcript is the speech signal (a
        transcribed piece counts as speech for TRANSCRIPT_SPEECH_STEPS steps, as words span several)."""
        if out.user_text_piece.strip():
            self._heard_at_step = out.step
        prob = 1.0 if out.step - self._heard_at_step < TRANSCRIPT_SPEECH_STEPS else 0.0
        self._on_speech(self._segmenter.update(prob, 1000 * self._step_s), prob)

    async def _open_engine(self) -> SessionHandle:
        """Open the engine session at the first step, with the instructions and items sent so far as context
        (in a thread: opening takes the engine's cache lock, which a running batch holds)."""
        n = len(self._pending_context)
        context = "\n".join([*self._pending_context, self.rt.clock()])
        sampling = SamplingConfig(seed=self.rt.seed)
        self.handle = await asyncio.to_thread(self.rt.scheduler.open, context, sampling)
        for text in self._pending_context[n:]:  # added while the session was opening
            self.handle.session.inject_text(text)
        self._pending_context.clear()
        return self.handle

    def _on_speech(self, event: SpeechEvent | None, prob: float) -> None:
        """Server VAD decisions: speech_started (barge-in) and speech_stopped (commit)."""
        td = self.config.turn_detection
        if td is not None and prob >= td.threshold:
            self._speech_end_at = time.monotonic()
        if event is None or td is None:
            return
        if event.kind == "started":
            turn = self.turns.ensure_open(self._consumed)
            self._emit(
                ev.server_event(
                    "input_audio_buffer.speech_started", audio_start_ms=event.audio_ms, item_id=turn.item_id
                )
            )
            resp = self.responses.current
            if td.interrupt_response and resp is not None:
                self.stats["barge_ins"] += 1
                resp.barge_in_ms = event.delay_ms
                self._stop(resp, "cancelled", "turn_detected")
            return
        turn = self.turns.ensure_open(self._consumed)
        self._emit(
            ev.server_event(
                "input_audio_buffer.speech_stopped", audio_end_ms=event.audio_ms, item_id=turn.item_id
            )
        )
        self.turns.commit(self._consumed)
        if self._fifo.size:  # audio after the speech (sent ahead) starts the next turn
            self.turns.ensure_open(self._consumed)
        self._end_of_input(self._consumed)

    async def _respond(self, loop: asyncio.AbstractEventLoop, out: StepOutput, times: dict) -> None:
        """Turn one step's output into response events."""
        resp, chunk = self.responses.current, out.step - self._max_delay
        td = self.config.turn_detection
        rising = out.speaking and not self._prev_speaking
        self._prev_speaking = out.speaking
        if resp is None and (rising or out.tool_call):
            if td is not None and td.interrupt_response and self._segmenter.speaking and not out.tool_call:
                self.handle.session.silence()  # it started talking over the user: let the user finish
            elif out.tool_call or (td is not None and td.create_response):  # starts with this very step
                resp = self.responses.create(
                    self._consumed - self._step_samples, self.config.max_output_tokens
                )
        if resp is None:
            return
        if out.tool_call:
            self.responses.add_tool_call(resp, out.tool_call)
        if resp.state == "requested":
            if out.speaking and self._consumed - self._step_samples >= resp.request_position:
                self.responses.activate(resp, chunk)
                resp.input_end_at, resp.speech_end_at = self._input_end_at, self._speech_end_at
                self._media.decoder.reset()  # the response's audio starts a new decoder stream
            elif time.monotonic() - resp.created_at > ANSWER_WINDOW_S:
                self._finish(resp, "completed")
        if resp.state == "active":
            await self._stream(loop, resp, out, chunk, times)

    async def _stream(
        self, loop: asyncio.AbstractEventLoop, resp: Response, out: StepOutput, chunk: int, times: dict
    ) -> None:
        """Send one step of an active response, then check whether it has ended."""
        resp.engine_turn_start = self.handle.session.turn_start_chunk
        t0 = time.monotonic()
        if self.config.output_format == p.TOKENS_FORMAT:
            payload = out.audio_codes
        else:
            pcm = await loop.run_in_executor(self.rt.executor, self._media.decoder.decode, out.audio_codes)
            payload = p.encode_pcm16(pcm)
        if resp.state != "active":  # cancelled while decoding
            return
        self.responses.add_audio(resp, payload)
        if out.text_piece:
            self.responses.add_text(resp, out.text_piece, out.step + 1)
        times["decode"] = time.monotonic() - t0
        for name, seconds in times.items():
            resp.add_stage(name, 1000 * seconds)
        resp.add_stage("total", 1000 * sum(times.values()))
        resp.quiet_steps = 0 if out.speaking else resp.quiet_steps + 1
        if out.turn_ended or resp.quiet_steps >= END_QUIET_STEPS:
            self._finish(resp, "completed")
        elif resp.max_steps is not None and len(resp.stages["engine"]) >= resp.max_steps:
            self._stop(resp, "incomplete", "max_output_tokens")

    def _finish(self, resp: Response, status: str, reason: str | None = None) -> None:
        log.debug("session %s: response %s %s %s", self.id, resp.id, status, reason or "")
        self.responses.finish(resp, status, reason)
        self._answer_until = time.monotonic()

    def _stop(self, resp: Response, status: str, reason: str) -> None:
        """End a response early: nothing more is sent, and the engine stops and forgets what was not sent."""
        was_active = resp.state == "active"
        self._finish(resp, status, reason)
        if self.handle is None:
            return
        self.handle.session.silence()
        frames = self.responses.engine_frames(resp, resp.frames_sent) if was_active else None
        if frames is not None:
            self.handle.session.truncate(frames)

    # ----- helpers -----
    def _input_position(self) -> int:
        """Input position just after the last buffered sample."""
        unit = self.rt.codec.frame_size if self.config.input_format == p.TOKENS_FORMAT else 1
        return self._consumed + self._fifo.size * unit

    def _unit(self) -> int:
        """Input units per engine step: samples, or codec frames in token mode."""
        return self._G if self.config.input_format == p.TOKENS_FORMAT else self._step_samples

    def _reset_input(self) -> None:
        tokens = self.config.input_format == p.TOKENS_FORMAT
        self._fifo = InputBuffer(self._silence_codes if tokens else np.zeros((), np.float32))

    def _session_json(self) -> dict:
        return self.config.to_json(self.id, self.rt.hark_info())

    def shutdown(self, reason: str) -> None:
        """The connection is about to close: cancel a response in progress (response.done says why)."""
        resp = self.responses.current
        if resp is not None:
            self._stop(resp, "cancelled", reason)

    def close(self) -> None:
        """Free the engine session (pending steps are cancelled)."""
        if self.handle is not None:
            self.handle.close()

    def summary(self) -> dict:
        """Stats for the session's log line."""
        return {
            **self.stats,
            "audio_in_s": round(self.stats["audio_in_s"], 2),
            "duration_s": round(time.monotonic() - self.started_at, 2),
            "responses": dict(self.responses.counts),
        }
