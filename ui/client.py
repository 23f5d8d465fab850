"""The conversation client of `hark talk`: microphone -> session -> speaker, with barge-in and reconnects.

One `TalkClient` runs the audio and the realtime session for the app (which only displays its state):

- Microphone loop, every 20 ms block: hand the echo canceller what the speaker played meanwhile
  (the sink's `read_output`) and the block; run the near-end detector on the cleaned block; send it (PCM, or
  codec tokens in token mode, where the client runs the streaming encoder and decoder itself). When muted, or
  in push-to-talk between presses, silence is sent instead so the full-duplex engine keeps its clock.
- Session loop: connect (websocket or embedded, see ui/transport.py), `session.update`, then turn each
  server event into conversation state and audio. A dropped connection shows a banner and reconnects with
  exponential backoff; the new session starts a new conversation (the server forgets the old one).
- Barge-in: when the user starts talking while the assistant is audible (near-end detector or server VAD) or
  presses interrupt, playback is flushed at once (the device goes silent within one block), the response is
  cancelled, the server is told what was actually heard (`conversation.item.truncate` with
  `audio_end_ms` = heard samples, i.e. played minus device latency) and the turn is marked cut.
- Latency per turn: end of the user's speech (mapped from the server VAD's `audio_end_ms` to the capture
  clock, or the near-end detector's estimate) -> when the first sample of the answer reaches the speaker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from app import protocol as p
from audio.codec import Codec
from audio.levels import rms_dbfs
from ui.audio_io import AudioIO
from ui.bargein import NearEndConfig, NearEndDetector
from ui.conversation import (
    INTERRUPTED,
    LISTENING,
    SPEAKING,
    THINKING,
    USER_SPEAKING,
    Conversation,
    Piece,
    Turn,
)
from ui.echo import EchoCanceller, ResidualEcho
from ui.playback import Playback
from ui.transport import Connector, Transport, TransportClosed

log = logging.getLogger(__name__)

INTERRUPTED_S = 1.0  # how long the state shows "interrupted" after a cut
ANSWER_WINDOW_S = 8.0  # after the user's speech ends, "thinking" lasts at most this long
BENIGN_ERRORS = {"response_cancel_not_active"}  # races of our cancel with the server's own end of a response


@dataclass
class TalkConfig:
    """Behaviour of the talk client (field names are also JSON keys)."""

    aec: bool = True  # echo cancellation (off for headphones)
    push_to_talk: bool = False  # space starts/stops a turn; otherwise the mic is open and space mutes
    tokens: bool = False  # token fast path: the client runs the codec, ~3 kbps on the wire
    instructions: str = ""  # extra text context for the assistant
    backoff_s: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)  # waits between reconnect attempts
    near_end: NearEndConfig = field(default_factory=NearEndConfig)


class TalkClient:
    """Runs one conversation; the app reads its public attributes and calls its actions.

    Args:
        connector: opens realtime sessions (raising TransportClosed when it cannot); closed by `run`.
        audio: microphone and speaker (opened by `run`).
        config: behaviour.
        codec: the streaming codec, needed in token mode only.
    """

    def __init__(
        self,
        connector: Connector,
        audio: AudioIO,
        config: TalkConfig | None = None,
        codec: Codec | None = None,
    ) -> None:
        self.config = config or TalkConfig()
        if self.config.tokens and codec is None:
            raise ValueError("token mode needs the codec: pass codec=")
        self.connector, self.audio, self.codec = connector, audio, codec
        self.conversation = Conversation()
        self.banner = ""  # connection trouble, shown until it is over
        self.connected = False
        self.muted = False  # open-mic mode: space mutes
        self.talking = False  # push-to-talk mode: between the presses that start and end a turn
        self.paused = False  # the mic is held closed (the device picker is open and may play a tone)
        self.input_dbfs = self.output_dbfs = -120.0
        self.stats = {"sessions": 0, "barge_ins": 0, "errors": 0, "sent_samples": 0}
        self.last_error = ""  # the latest error the server reported (the app shows it once)
        self.events_seen: Counter[str] = Counter()  # server event types received (for diagnostics and tests)
        self.last_flush: tuple[float, int] | None = None  # (monotonic time, sink played_samples) at the cut
        self.playback: Playback | None = None
        self.aec: EchoCanceller | None = None
        self.residual: ResidualEcho | None = None
        self.detector = NearEndDetector(self.config.near_end, audio.sample_rate)
        self._transport: Transport | None = None
        self._closing = False
        self._resetting = False
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hark-client-codec")
        self._new_session_state()

    # ----- state for the screen -----
    @property
    def state(self) -> str:
        """One of ui.conversation.STATES."""
        now = time.monotonic()
        if now - self._interrupted_at < INTERRUPTED_S:
            return INTERRUPTED
        if (self.detector.speaking and self._mic_open) or self._server_speech:
            return USER_SPEAKING
        if self.playback is not None and self.playback.audible and self._audio_item is not None:
            return SPEAKING
        if self._awaiting_answer and now - (self._speech_end_at or 0.0) < ANSWER_WINDOW_S:
            return THINKING
        return LISTENING

    def heard(self, turn: Turn) -> int:
        """Samples of an assistant turn's audio the user has heard so far."""
        return self.playback.heard(turn.item_id) if self.playback is not None else 0

    @property
    def _mic_open(self) -> bool:
        if self.paused:
            return False
        return self.talking if self.config.push_to_talk else not self.muted

    # ----- actions (called by the app) -----
    async def run(self) -> None:
        """Open the audio, then hold a session (reconnecting) until `close()`; raises AudioDeviceError."""
        self.audio.open()
        self._start_audio_chain()
        mic = asyncio.create_task(self._mic_loop(), name="talk-mic")
        try:
            await self._session_loop()
        finally:
            mic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await mic
            await self.connector.close()
            self.audio.close()
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def close(self) -> None:
        """End the conversation; `run` returns (writing an output file)."""
        self._closing = True
        self._wake.set()
        await self._drop_transport()

    async def interrupt(self) -> None:
        """Stop the assistant now: flush playback, cancel the response, truncate to what was heard."""
        if not await self._barge_in() and self._response_id is not None:
            await self._send({"type": "response.cancel", "response_id": self._response_id})
        self._interrupted_at = time.monotonic()

    async def reset(self) -> None:
        """Start a new conversation: a fresh session, the screen cleared (latency history kept)."""
        if self.playback is not None:
            self.playback.flush()
        self.conversation.clear()
        self._resetting = True
        await self._drop_transport()

    async def toggle_space(self) -> None:
        """Space: mute/unmute the open mic, or start/end a push-to-talk turn."""
        if not self.config.push_to_talk:
            self.muted = not self.muted
            return
        self.talking = not self.talking
        if self.talking:
            await self._barge_in()
        else:
            self._speech_ended(time.monotonic())
            await self._send({"type": "input_audio_buffer.commit"})
            await self._send({"type": "response.create"})

    def switch_devices(self, input_device: str | None, output_device: str | None) -> None:
        """Move to other devices (raises AudioDeviceError and keeps the old ones when they cannot open)."""
        self.audio.switch(input_device, output_device)
        self._start_audio_chain()
        if self.banner.startswith("the microphone stopped"):
            self.banner = ""

    # ----- audio -----
    def _start_audio_chain(self) -> None:
        """Playback bookkeeping, echo canceller and detector for the current devices."""
        self.playback = Playback(self.audio.sink, self.audio.output_latency)
        delay_ms = 1000 * (self.audio.input_latency + self.audio.output_latency)
        use_aec = self.config.aec and self.audio.uses_devices  # files have no acoustic echo path
        self.aec = EchoCanceller(self.audio.sample_rate, int(delay_ms)) if use_aec else None
        self.residual = ResidualEcho(self.audio.sample_rate) if use_aec else None
        self.detector = NearEndDetector(self.config.near_end, self.audio.sample_rate)

    async def _mic_loop(self) -> None:
        while True:
            generation = self.audio.generation
            try:
                block = await self.audio.read()
            except EOFError:
                if generation == self.audio.generation:  # not just closed by a device switch
                    self.banner = "the microphone stopped; pick another input with d"
                    await asyncio.sleep(self.audio.block_size / self.audio.sample_rate)
                continue
            reference = self.playback.sink.read_output()
            self.output_dbfs = rms_dbfs(reference[-len(block) :])
            clean, is_echo = block, None
            if self.aec is not None:
                self.aec.render(reference)
                clean = self.aec.capture(block)
                self.residual.add(reference, clean)
                is_echo = self.residual.likely
            self.input_dbfs = rms_dbfs(clean)
            event = self.detector.update(clean, is_echo)
            if event == "started" and self._mic_open:
                await self._barge_in()
            elif event == "stopped" and self._mic_open:
                self._speech_ended(time.monotonic() - self.config.near_end.hangover_ms / 1000)
            await self._send_audio(clean if self._mic_open else np.zeros_like(clean))

    async def _send_audio(self, block: np.ndarray) -> None:
        if self._transport is None or not self.connected:
            return
        self.stats["sent_samples"] += len(block)
        self._sent += len(block)
        self._capture_clock.append((self._sent, time.monotonic() - self.audio.input_latency))
        if not self.config.tokens:
            await self._send({"type": "input_audio_buffer.append", "audio": p.encode_pcm16(block)})
            return
        self._unencoded.append(block)
        pending = np.concatenate(self._unencoded)
        frames = len(pending) // self.codec.frame_size
        if frames == 0:
            return
        head, rest = pending[: frames * self.codec.frame_size], pending[frames * self.codec.frame_size :]
        self._unencoded = [rest]
        loop = asyncio.get_running_loop()
        codes = await loop.run_in_executor(self._executor, self._encoder.encode, head)
        await self._send(p.encode_token_frame(p.TokenFrame(p.KIND_USER_CODES, codes, self._frames_sent)))
        self._frames_sent += frames

    def _play(self, item_id: str, pcm: np.ndarray) -> None:
        turn = self.conversation.find(item_id)
        if item_id not in self.playback.items:
            heard_at = time.monotonic() + self.playback.seconds_until_heard()
            if turn is not None and self._awaiting_answer and self._speech_end_at is not None:
                turn.latency_ms = 1000 * (heard_at - self._speech_end_at)
                self.conversation.latencies_ms.append(turn.latency_ms)
                turn.touch()
            self._awaiting_answer = False
        self.playback.write(item_id, pcm)

    async def _barge_in(self) -> bool:
        """Cut the assistant's audible answer; False when nothing was playing."""
        item = self._audio_item
        if item is None or not self.playback.audible:
            return False
        self.playback.flush()
        self.last_flush = (time.monotonic(), self.audio.sink.played_samples)
        heard = self.playback.heard(item)
        self._audio_item = None
        self._interrupted_at = time.monotonic()
        self.stats["barge_ins"] += 1
        turn = self.conversation.find(item)
        if turn is not None and turn.cut is None:
            turn.cut = heard
            turn.touch()
        if self._response_id is not None:
            await self._send({"type": "response.cancel", "response_id": self._response_id})
        audio_end_ms = heard * 1000 // self.audio.sample_rate
        await self._send({"type": "conversation.item.truncate", "item_id": item, "content_index": 0,
                          "audio_end_ms": audio_end_ms})  # fmt: skip
        log.info("barge-in: cut %s at %d ms", item, audio_end_ms)
        return True

    def _speech_ended(self, at: float) -> None:
        self._speech_end_at = at
        self._awaiting_answer = True

    def _capture_time(self, position: int) -> float:
        """Monotonic time when input sample `position` (of this session) was captured."""
        for end, at in self._capture_clock:
            if end >= position:
                return at - (end - position) / self.audio.sample_rate
        return time.monotonic()

    # ----- session -----
    def _new_session_state(self) -> None:
        self._response_id: str | None = None
        self._audio_item: str | None = None  # assistant item whose audio is arriving / playing
        self._server_speech = False
        self._speech_end_at: float | None = None
        self._awaiting_answer = False
        self._interrupted_at = float("-inf")
        self._sent = 0  # samples sent in this session
        self._capture_clock: deque[tuple[int, float]] = deque(maxlen=1000)  # (sent samples, capture time)
        self._unencoded: list[np.ndarray] = []
        self._frames_sent = 0
        if self.codec is not None:
            self._encoder, self._decoder = self.codec.stream_encoder(), self.codec.stream_decoder()

    async def _session_loop(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                transport = await self.connector.open()
            except TransportClosed as e:
                delay = self.config.backoff_s[min(attempt, len(self.config.backoff_s) - 1)]
                attempt += 1
                self.banner = f"{e}; retrying in {delay:g} s"
                await self._pause(delay)
                continue
            attempt = 0
            await self._hold(transport)

    async def _hold(self, transport: Transport) -> None:
        """Run one session until it ends."""
        self._new_session_state()
        self._transport = transport
        if self.stats["sessions"] and not self._resetting:
            self.conversation.note("reconnected: a new conversation starts")
        self.stats["sessions"] += 1
        self._resetting = False
        try:
            await transport.send(self._session_update())
            while True:
                await self._handle(await transport.receive())
        except TransportClosed as e:
            if not (self._closing or self._resetting):
                self.banner = f"{e}; reconnecting"
                log.warning("%s", e)
        finally:
            self.connected = False
            self._transport = None
            with contextlib.suppress(Exception):
                await transport.close()

    def _session_update(self) -> dict:
        fmt = p.audio_format_json(p.TOKENS_FORMAT if self.config.tokens else p.PCM_FORMAT)
        vad = None if self.config.push_to_talk else {"type": "server_vad", "interrupt_response": True}
        session = {
            "type": "realtime",
            "audio": {"input": {"format": fmt, "turn_detection": vad}, "output": {"format": fmt}},
        }
        if self.config.instructions:
            session["instructions"] = self.config.instructions
        return {"type": "session.update", "session": session}

    async def _send(self, message: dict | bytes) -> None:
        if self._transport is None:
            return
        with contextlib.suppress(TransportClosed):  # the session loop notices and reconnects
            await self._transport.send(message)

    async def _drop_transport(self) -> None:
        if self._transport is not None:
            with contextlib.suppress(Exception):
                await self._transport.close()

    async def _pause(self, seconds: float) -> None:
        self._wake.clear()
        # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that coincides
        # with the event being set, and then the app could not stop this loop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    # ----- server events -----
    async def _handle(self, message: dict | bytes) -> None:
        if isinstance(message, bytes):
            await self._on_codes(message)
            return
        kind = message.get("type", "")
        self.events_seen[kind] += 1
        handler = _HANDLERS.get(kind)
        if handler is not None:
            await handler(self, message)

    async def _on_session_created(self, event: dict) -> None:
        self.connected, self.banner = True, ""
        info = event.get("session", {}).get("hark", {}).get("codec", {})
        if self.config.tokens and info.get("checkpoint_sha256") != self.codec.checkpoint_sha256:
            self.banner = "the server runs another codec checkpoint than --codec: token audio will be garbled"

    async def _on_speech_started(self, event: dict) -> None:
        self._server_speech = True
        await self._barge_in()

    async def _on_speech_stopped(self, event: dict) -> None:
        self._server_speech = False
        position = int(event.get("audio_end_ms", 0)) * self.audio.sample_rate // 1000
        self._speech_ended(self._capture_time(position))

    async def _on_transcript_delta(self, event: dict) -> None:
        turn = self.conversation.user_turn(event["item_id"])
        turn.text += event.get("delta", "")
        turn.touch()

    async def _on_transcript_completed(self, event: dict) -> None:
        turn = self.conversation.user_turn(event["item_id"])
        turn.text, turn.final = event.get("transcript", turn.text), True
        turn.touch()

    async def _on_response_created(self, event: dict) -> None:
        self._response_id = event["response"]["id"]

    async def _on_output_item(self, event: dict) -> None:
        item = event.get("item", {})
        if item.get("type") == "message" and item.get("role") == "assistant":
            self.conversation.add(Turn("assistant", item["id"]))
            self._audio_item = item["id"]
            if self.config.tokens:
                self._decoder.reset()  # the server starts every response's audio as a new stream

    async def _on_audio_delta(self, event: dict) -> None:
        pcm = p.pcm16_to_float(p.decode_pcm16(event["delta"]))
        self._play(event["item_id"], pcm)

    async def _on_codes(self, data: bytes) -> None:
        frame = p.read_token_frame(data)
        if frame.kind != p.KIND_ASSISTANT_CODES or self._audio_item is None:
            return
        item = self._audio_item
        decode = self._decoder.decode
        pcm = await asyncio.get_running_loop().run_in_executor(self._executor, decode, frame.codes)
        self._play(item, pcm)

    async def _on_monologue_delta(self, event: dict) -> None:
        turn = self.conversation.find(event["item_id"])
        if turn is None:
            return
        played = self.playback.items.get(turn.item_id)
        turn.pieces.append(Piece(played.length if played else 0, event.get("delta", "")))
        turn.touch()

    async def _on_function_call(self, event: dict) -> None:
        self.conversation.note(f"tool call: {event.get('name')} {event.get('arguments')}")

    async def _on_response_done(self, event: dict) -> None:
        response = event.get("response", {})
        if response.get("id") == self._response_id:
            self._response_id = None
        for item in response.get("output", []):
            turn = self.conversation.find(item.get("id", ""))
            if turn is not None:
                turn.final = True
                turn.touch()

    async def _on_error(self, event: dict) -> None:
        error = event.get("error", {})
        if error.get("code") in BENIGN_ERRORS:
            return
        self.stats["errors"] += 1
        self.last_error = f"server: {error.get('message', error.get('code'))}"
        log.warning("server error %s: %s", error.get("code"), error.get("message"))


_HANDLERS: dict[str, Callable[[TalkClient, dict], Awaitable[None]]] = {
    p.ServerEvents.SESSION_CREATED: TalkClient._on_session_created,
    p.ServerEvents.SPEECH_STARTED: TalkClient._on_speech_started,
    p.ServerEvents.SPEECH_STOPPED: TalkClient._on_speech_stopped,
    p.ServerEvents.TRANSCRIPTION_DELTA: TalkClient._on_transcript_delta,
    p.ServerEvents.TRANSCRIPTION_COMPLETED: TalkClient._on_transcript_completed,
    p.ServerEvents.RESPONSE_CREATED: TalkClient._on_response_created,
    p.ServerEvents.OUTPUT_ITEM_ADDED: TalkClient._on_output_item,
    p.ServerEvents.AUDIO_DELTA: TalkClient._on_audio_delta,
    p.ServerEvents.AUDIO_TRANSCRIPT_DELTA: TalkClient._on_monologue_delta,
    p.ServerEvents.FUNCTION_CALL_ARGUMENTS_DONE: TalkClient._on_function_call,
    p.ServerEvents.RESPONSE_DONE: TalkClient._on_response_done,
    p.ServerEvents.ERROR: TalkClient._on_error,
}
