"""One realtime session: the input buffer, server VAD, turn-taking, barge-in and the full-duplex engine loop.

The engine runs continuously: `run()` takes one 53 ms chunk of input at a time (1280 samples of PCM, or 4
frames of codes in token mode), encodes it in a worker thread, steps the engine through the shared
`Scheduler`, and turns the step's output into events. Server VAD runs as audio arrives, ahead of the
engine (`media.VadReader`), so a barge-in is confirmed `min_speech_ms` after the user's onset however far
the engine is behind. The asyncio loop never computes.

Input pacing (`timeline.InputTimeline`): buffered client audio is consumed as fast as the engine allows;
when it runs dry while an answer is expected (a response is requested or active, the transcript tail after
a commit, the engine's own answer with `create_response`), the engine steps on silence at real-time pace.

Turn-taking: the engine decides when to speak. A response exists from the step it starts speaking
(`StepOutput.speaking`) until its turn ends (EOS or `END_QUIET_STEPS` quiet steps), the step limit
(`max_output_tokens`, in steps) is reached, or it is cancelled. Automatic responses (server_vad with
`create_response`) open on a rising edge of `speaking` while server VAD hears no user speech, and when
the engine lets a turn that VAD ended pass unanswered, the session requests the answer;
`response.create` opens a response at once and, as soon as the engine has heard the input sent before
it, tells the engine `start_turn()`, so its speech starts at that step. With `interrupt_response`, the
response is held (no deltas go out) from the first VAD window that hears speech; once the speech lasts
`min_speech_ms` it is cancelled (turn_detected): nothing held is sent, and the engine is told `silence()`
and `truncate_at()` what was sent (the client's `conversation.item.truncate` later cuts it to what was
played). Shorter speech releases the held deltas and the response goes on. The engine stays mute until
the user's turn has ended: by its own transcript, or (with `create_response`) by server VAD once the engine
has heard the committed audio (`user_turn_ended()`).

The engine's text context ends with the current-time line; it is re-injected (replacing the old one) at
each user turn and `response.create` when the minute changed, so "what time is it" stays right.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from app import events as ev
from app import protocol as p
from app.media import SessionMedia
from app.responses import Response, Responses
from app.timeline import InputTimeline
from app.turns import TAIL_STEPS, UserTurns
from audio.codec import Codec
from audio.vad import WINDOW_MS, SegmenterConfig, SileroVad, SpeechEvent, SpeechSegmenter
from engine.engine import Engine, SamplingConfig
from engine.scheduler import Scheduler, SessionHandle
from engine.session import StepOutput

log = logging.getLogger(__name__)

END_QUIET_STEPS = 8  # steps without speech that end a response whose turn never said EOS
ANSWER_WINDOW_S = 8.0  # how long after a commit the engine may take to start answering on its own
# The engine learned to answer ~200 ms after the question ends, well inside VAD's silence_duration_ms
# hangover (500 ms): it only talks over the user if VAD heard speech this recently.
OVERLAP_GUARD_MS = 128.0
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
    sampling: SamplingConfig = field(default_factory=SamplingConfig)  # of every session (seed None: random)
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
        self._step_s = engine.step_seconds
        self._step_samples = engine.frames_per_step * runtime.codec.frame_size
        self.responses = Responses(emit, engine.frames_per_step, runtime.codec.frame_rate)
        self.turns = UserTurns(emit, self._step_samples, runtime.codec.sample_rate)
        self.input = InputTimeline(
            self._step_samples,
            runtime.codec.frame_size,
            runtime.codec.sample_rate,
            np.array(engine.config.silence_codes, np.int64),
            runtime.max_input_ahead_s,
        )
        self._media = SessionMedia(runtime.codec, runtime.vad, runtime.executor)
        self._segmenter = SpeechSegmenter(_segmenter_config(self.config.turn_detection))
        self.handle: SessionHandle | None = None
        self._pending_context: list[str] = []
        self._clock_line = ""  # the clock line the engine was last given
        self._arrived = asyncio.Event()  # PCM arrived: server VAD looks at it
        self._prev_speaking = False
        self._speech_end_at: float | None = None
        self._input_end_at: float | None = None
        self._commit_position: int | None = None
        self._responses_before_turn = 0  # responses created before the user's current turn started
        self._user_spoke = False  # server VAD has heard the user start a turn in this session
        self._heard_at_step = -(1 << 30)  # token mode: last step with a user-transcript piece
        self.stats = {"steps": 0, "padded_steps": 0, "audio_in_s": 0.0, "errors": 0, "barge_ins": 0}

    # ----- client messages -----
    def start(self) -> None:
        """Announce the session (session.created)."""
        self._emit(ev.server_event(p.ServerEvents.SESSION_CREATED, session=self._session_json()))

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
            self._accept_input(p.pcm16_to_float(event.pcm), len(event.pcm), event.event_id)

    def _clear(self, event: p.AudioClear) -> None:
        turn = self.turns.clear()
        if turn is not None:  # audio the engine has consumed cannot be taken back
            self.input.drop_after(turn.start)
            self._media.vad.reset(min(self._media.vad.position, self.input.position))
            self._segmenter.reset()  # speech in the dropped audio is forgotten with it
        self._emit(ev.server_event(p.ServerEvents.INPUT_CLEARED))

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
            self.input.set_format(self.config.input_format == p.TOKENS_FORMAT)
            self._media.vad.reset(self.input.consumed)
        if self.config.instructions != old.instructions:
            self._add_context(self.config.instructions)
        td = self.config.turn_detection
        self._segmenter.config = _segmenter_config(td)
        if self.responses.current is not None and (td is None or not td.interrupt_response):
            self.responses.release(self.responses.current)  # nothing will decide on a held response now
        self._emit(ev.server_event(p.ServerEvents.SESSION_UPDATED, session=self._session_json()))

    def _accept_input(self, data: np.ndarray, samples: int, event_id: str | None) -> None:
        turn_start = self.input.position
        self.stats["audio_in_s"] += self.input.accept(data, samples, event_id)
        self.turns.ensure_open(turn_start)
        self._arrived.set()

    def _commit(self, event: p.AudioCommit) -> None:
        if self.turns.open is None:
            raise p.ProtocolError(
                "input_audio_buffer_commit_empty", "the input audio buffer is empty: append audio first"
            )
        self.input.close_input(complete_chunk=True)
        self.turns.commit(self.input.position)
        self._end_of_input(self.input.position)
        self._refresh_clock()

    def _end_of_input(self, position: int) -> None:
        """After a commit at `position`: silence may follow it, for the transcript tail (and an answer, once
        the engine has heard the committed audio: see `_process`)."""
        self.input.expect_until(position + (TAIL_STEPS + 1) * self._step_samples)
        self._input_end_at = None  # set when the engine has consumed the committed audio
        self._commit_position = position

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
        for kind in (p.ServerEvents.ITEM_CREATED, p.ServerEvents.ITEM_ADDED):
            self._emit(ev.server_event(kind, item=item, previous_item_id=previous))
        self._emit(ev.server_event(p.ServerEvents.ITEM_DONE, item=item))

    def _truncate(self, event: p.ItemTruncate) -> None:
        current = self.responses.current
        if current is not None and current.item_id == event.item_id:
            self._stop(current, "cancelled", "client_cancelled")
        resp = self.responses.truncate(event.item_id, event.audio_end_ms)
        # an older item's cut would also erase the newer responses that followed it from the context
        if self.handle is not None and self.responses.is_latest(resp):
            self.handle.session.truncate_at(resp.first_chunk, resp.frames_sent)

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
        self.responses.create(self.input.position, limit)
        self.input.close_input(complete_chunk=False)
        self._refresh_clock()

    def _add_context(self, text: str) -> None:
        """Text context for the engine (omni input): at the session's start, or injected mid-stream."""
        if not text.strip():
            return
        if self.handle is None:
            self._pending_context.append(text)
        else:
            self.handle.session.inject_text(text)

    def _refresh_clock(self) -> None:
        """Give the engine the current-time line again (replacing the old one) when it changed."""
        line = self.rt.clock()
        if self.handle is not None and line and line != self._clock_line:
            self.handle.session.inject_text(line, key="clock")
            self._clock_line = line

    # ----- the engine loop -----
    async def run(self) -> None:
        """Step the engine whenever input (or inserted silence) is due, and run server VAD on input as it
        arrives; runs until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._listen())
            tasks.create_task(self._engine_loop())

    async def _engine_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            chunk, padded, position = await self.input.next_chunk(
                lambda: self.responses.current is not None, self._hear
            )
            self.stats["padded_steps"] += padded
            await self._process(loop, chunk, position)

    async def _listen(self) -> None:
        """Server VAD on PCM as soon as it arrives."""
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            await self._hear()

    async def _hear(self, until: int | None = None) -> None:
        """Server VAD (PCM input with turn detection) over the buffered input up to position `until`."""
        if self.config.turn_detection is None or self.config.input_format == p.TOKENS_FORMAT:
            return
        probs, position = await self._media.vad.read(self.input.buffer, until)
        for prob in probs:
            self._on_speech(prob, position)

    async def _process(self, loop: asyncio.AbstractEventLoop, chunk: np.ndarray, position: int) -> None:
        """One engine step on the input chunk that starts at timeline `position`."""
        t0 = time.monotonic()
        tokens_in = self.config.input_format == p.TOKENS_FORMAT
        if tokens_in:
            codes = chunk
        else:
            codes = await loop.run_in_executor(self.rt.executor, self._media.encoder.encode, chunk)
        t1 = time.monotonic()
        handle = self.handle or self._open_engine()
        resp = self.responses.current
        if resp is not None and resp.state == "requested" and position >= resp.request_position:
            handle.session.start_turn()  # it has heard everything sent before response.create: speak now
        out = await handle.step(codes)
        t2 = time.monotonic()
        self.stats["steps"] += 1
        if tokens_in and self.config.turn_detection is not None:
            self._transcript_vad(out, position + self._step_samples)
        heard = position + self._step_samples
        turn_heard = self._commit_position is not None and heard >= self._commit_position
        if turn_heard:
            self._committed_turn_heard(handle, t2)
        self.turns.transcribe(out.user_text_piece, position)
        self.turns.advance(heard)
        await self._respond(loop, out, position, {"encode": t1 - t0, "engine": t2 - t1})
        if turn_heard:
            self._answer_if_unanswered(heard)

    def _committed_turn_heard(self, handle: SessionHandle, now: float) -> None:
        """The engine has consumed the audio up to the last commit: the user's turn is over for it."""
        self._input_end_at, self._commit_position = now, None
        td = self.config.turn_detection
        if td is not None and td.create_response:  # the engine may now answer on its own
            self.input.answer_until = now + ANSWER_WINDOW_S
            handle.session.user_turn_ended()  # after a barge-in, VAD ends the mute even if ASR missed

    def _answer_if_unanswered(self, heard: int) -> None:
        """With create_response, request the answer to a committed turn the engine let pass in silence.

        VAD commits a turn after silence_duration_ms (500 ms) without speech, and the engine, when it answers
        on its own, starts within ~330 ms of the question's end (p90 of `hark eval engine`): by the step
        that hears the commit it has had its chance. Asking now, as response.create would, means a user is
        never left without an answer.
        """
        td = self.config.turn_detection
        if td is None or not td.create_response or self.responses.current is not None:
            return
        if not self._turn_unanswered():  # perhaps already done
            return
        log.debug("session %s: the engine let the turn pass; requesting an answer", self.id)
        self.responses.create(heard, self.config.max_output_tokens)

    def _turn_unanswered(self) -> bool:
        """Whether the user has started a turn since the last response was created: only then may the
        engine answer on its own (else it would be talking into silence, or answering its own answer)."""
        return self._user_spoke and self.responses.created == self._responses_before_turn

    def _transcript_vad(self, out: StepOutput, position: int) -> None:
        """Token mode has no audio to run VAD on: the engine's own transcript is the speech signal (a
        transcribed piece counts as speech for TRANSCRIPT_SPEECH_STEPS steps, as words span several)."""
        if out.user_text_piece.strip():
            self._heard_at_step = out.step
        prob = 1.0 if out.step - self._heard_at_step < TRANSCRIPT_SPEECH_STEPS else 0.0
        self._on_speech(prob, position, 1000 * self._step_s)

    def _user_talking(self, step: int) -> bool:
        """Whether the user was heard within OVERLAP_GUARD_MS. In token mode that is measured from the
        last transcribed piece (it marks a word's end), not from the speech span _transcript_vad
        stretches over the words, which would outlast the ~200 ms the engine waits before answering."""
        if self.config.input_format == p.TOKENS_FORMAT:
            return 1000 * self._step_s * (step - self._heard_at_step) < OVERLAP_GUARD_MS
        return self._segmenter.voiced_within(OVERLAP_GUARD_MS)

    def _open_engine(self) -> SessionHandle:
        """Open the engine session at the first step: the instructions and items sent so far are its
        context, then the clock line (a segment of its own, so that it can be refreshed)."""
        context = "\n".join(self._pending_context)
        self.handle = self.rt.scheduler.open(context, self.rt.sampling)
        self._pending_context.clear()
        self._refresh_clock()
        return self.handle

    def _on_speech(self, prob: float, position: int, duration_ms: float = WINDOW_MS) -> None:
        """One server-VAD observation (speech probability of the audio up to input `position`)."""
        td = self.config.turn_detection
        if td is None:
            return
        event = self._segmenter.update(prob, duration_ms)
        if prob >= td.threshold:
            self._speech_end_at = time.monotonic()
        if event is not None and event.kind == "started":
            self._speech_started(event, position)
        elif event is not None:
            self._speech_stopped(event, position)
        resp = self.responses.current
        if resp is not None and td.interrupt_response:  # quiet while the user may be starting to talk
            if self._segmenter.onset_pending:
                self.responses.hold(resp)
            else:
                self.responses.release(resp)

    def _speech_started(self, event: SpeechEvent, position: int) -> None:
        """speech_started; with interrupt_response, a barge-in cancels the response."""
        turn = self.turns.ensure_open(position)
        self._emit(
            ev.server_event(
                p.ServerEvents.SPEECH_STARTED, audio_start_ms=event.audio_ms, item_id=turn.item_id
            )
        )
        resp = self.responses.current
        if self.config.turn_detection.interrupt_response and resp is not None:
            self.stats["barge_ins"] += 1
            resp.barge_in_ms = event.delay_ms
            self._stop(resp, "cancelled", "turn_detected")
        self._responses_before_turn, self._user_spoke = self.responses.created, True

    def _speech_stopped(self, event: SpeechEvent, position: int) -> None:
        """speech_stopped: the user's turn is committed at `position`."""
        turn = self.turns.ensure_open(position)
        self._emit(
            ev.server_event(p.ServerEvents.SPEECH_STOPPED, audio_end_ms=event.audio_ms, item_id=turn.item_id)
        )
        self.turns.commit(position)
        if self.input.position > position:  # audio after the speech (sent ahead) starts the next turn
            self.turns.ensure_open(position)
        self._end_of_input(position)
        self._refresh_clock()

    async def _respond(
        self, loop: asyncio.AbstractEventLoop, out: StepOutput, position: int, times: dict
    ) -> None:
        """Turn the output of the step that heard the chunk at `position` into response events."""
        resp, chunk = self.responses.current, out.chunk
        td = self.config.turn_detection
        rising = out.speaking and not self._prev_speaking
        self._prev_speaking = out.speaking
        if resp is None and (rising or out.tool_call):
            talking = self._user_talking(out.step)
            if td is not None and td.interrupt_response and talking and not out.tool_call:
                self.handle.session.silence()  # it started talking over the user: let the user finish
            elif td is not None and td.create_response and not out.tool_call and not self._turn_unanswered():
                self.handle.session.silence()  # nothing was said to it: quiet until the user's turn ends
            elif out.tool_call or (td is not None and td.create_response):  # starts with this very step
                resp = self.responses.create(position, self.config.max_output_tokens)
        if resp is None:
            return
        if out.tool_call:
            self.responses.add_tool_call(resp, out.tool_call)
        heard_request = position >= resp.request_position  # start_turn was sent
        if resp.state == "requested" and out.speaking and heard_request:
            self.responses.activate(resp, chunk)
            resp.input_end_at, resp.speech_end_at = self._input_end_at, self._speech_end_at
            self._media.decoder.reset()  # the response's audio starts a new decoder stream
        if resp.state == "active":
            await self._stream(loop, resp, out, chunk, times)

    async def _stream(
        self, loop: asyncio.AbstractEventLoop, resp: Response, out: StepOutput, chunk: int, times: dict
    ) -> None:
        """Send one step of an active response, then check whether it has ended."""
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
        self.input.answer_until = time.monotonic()

    def _stop(self, resp: Response, status: str, reason: str) -> None:
        """End a response early: nothing more is sent, and the engine stops and forgets what was not sent
        (its last step or two were generated but never sent)."""
        was_active = resp.state == "active"
        self._finish(resp, status, reason)
        if self.handle is None:
            return
        self.handle.session.silence()
        if was_active:
            self.handle.session.truncate_at(resp.first_chunk, resp.frames_sent)

    # ----- helpers -----
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
            "duration_s": round(time.monotonic() - self.input.started_at, 2),
            "responses": dict(self.responses.counts),
        }


def _segmenter_config(td: p.TurnDetection | None) -> SegmenterConfig:
    """The server-VAD settings of a session's turn detection (defaults while it is off)."""
    if td is None:
        return SegmenterConfig()
    return SegmenterConfig(td.threshold, td.prefix_padding_ms, td.silence_duration_ms, td.min_speech_ms)
