"""A real-time test client of `hark serve`: an open microphone paced like a real one, and a timed event log.

The microphone (`Mic`) sends a packet when its last sample would have been captured: packet k of the
session goes out at `t0 + (k + 1) * packet / 24000` on the monotonic clock, carrying queued utterances or
else digital silence (an open mic never stops). An utterance's samples therefore have known ideal capture
times (`Said.at`), which is what "end of the user's speech" means in the benchmarks. A hook can run right
after an utterance's last packet (commit + response.create, as a push-to-talk client does on release);
that packet is then cut at the utterance's end (to whole codec frames in token mode).

Two modes (docs/protocol.md): `pcm` sends base64 PCM16 `input_audio_buffer.append` events and receives
`response.output_audio.delta`; `tokens` runs the codec in the client, sends kind-1 binary frames and
decodes the kind-2 frames it receives (timed, in a worker thread, as a token-mode client must before it
can play). Every server message is logged with its arrival time (`Arrival`); audio becomes playback
`Chunk`s whose time is when the client could start playing them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import websockets

from app import protocol as p
from app.bench.playback import SAMPLE_RATE, Chunk

PCM, TOKENS = "pcm", "tokens"
MODES = (PCM, TOKENS)
AUDIO_FRAME = "audio.frame"  # the log's type of a binary token frame (not a server event type)


class CodecMismatch(ValueError):
    """A token-mode client's codec differs from the server's."""


@dataclass
class Arrival:
    """One server message as the client received it."""

    t: float  # time.monotonic() at arrival
    type: str  # the event type, or "audio.frame" for a binary token frame
    event: dict | None = None
    response_id: str | None = None
    chunk: Chunk | None = None  # assistant audio carried by this message


@dataclass
class Said:
    """An utterance queued on the microphone; `start_t` is the ideal capture time of its first sample."""

    pcm: np.ndarray
    after: Callable[[], Awaitable[None]] | None = None
    start_t: float | None = None
    end_t: float | None = None  # ideal capture time of the end of its last packet (sent with it)
    sent: asyncio.Event = field(default_factory=asyncio.Event)

    def at(self, index: int) -> float:
        """Ideal capture time of sample `index` (monotonic seconds)."""
        if self.start_t is None:
            raise RuntimeError("the utterance has not started yet")
        return self.start_t + index / SAMPLE_RATE


class Mic:
    """An open microphone at real-time pace.

    Args:
        send: sends one packet of float32 samples.
        packet: samples per packet.
        granule: packets are cut to multiples of this many samples (1 for PCM, a codec frame for tokens).
    """

    def __init__(self, send: Callable[[np.ndarray], Awaitable[None]], packet: int, granule: int = 1):
        if packet % granule:
            raise ValueError(f"packets of {packet} samples are not whole codec frames of {granule}")
        self._send, self.packet, self.granule = send, packet, granule
        self.t0 = 0.0
        self.position = 0  # samples sent
        self._queue: deque[Said] = deque()
        self._offset = 0  # samples of the first queued utterance already sent
        self.late_ms: deque[float] = deque(maxlen=100_000)  # send time minus capture time, per packet

    def say(self, pcm: np.ndarray, after: Callable[[], Awaitable[None]] | None = None) -> Said:
        """Queue an utterance (played after those already queued); `after` runs once it is all sent."""
        said = Said(np.asarray(pcm, np.float32), after)
        self._queue.append(said)
        return said

    async def run(self) -> None:
        """Send packets forever (cancel to stop)."""
        self.t0 = time.monotonic()
        while True:
            chunk, finished = self._fill()
            due = self.t0 + (self.position + len(chunk)) / SAMPLE_RATE
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.late_ms.append(1000 * (time.monotonic() - due))
            await self._send(chunk)
            self.position += len(chunk)
            for said in finished:
                said.end_t = self.t0 + self.position / SAMPLE_RATE
                if said.after is not None:
                    await said.after()
                said.sent.set()

    def _fill(self) -> tuple[np.ndarray, list[Said]]:
        """The next packet: queued speech, then silence; cut short after an utterance with a hook."""
        out, filled, finished = np.zeros(self.packet, np.float32), 0, []
        while self._queue and filled < self.packet:
            said = self._queue[0]
            if said.start_t is None:
                said.start_t = self.t0 + (self.position + filled) / SAMPLE_RATE
            take = min(self.packet - filled, len(said.pcm) - self._offset)
            out[filled : filled + take] = said.pcm[self._offset : self._offset + take]
            filled, self._offset = filled + take, self._offset + take
            if self._offset == len(said.pcm):
                self._queue.popleft()
                self._offset = 0
                finished.append(said)
                if said.after is not None:
                    return out[: -(-filled // self.granule) * self.granule], finished
        return out, finished


def packet_samples(packet_ms: float, mode: str) -> int:
    """Mic packet in samples; token mode rounds to whole codec frames (320 samples)."""
    samples = max(1, round(packet_ms * SAMPLE_RATE / 1000))
    return max(320, round(samples / 320) * 320) if mode == TOKENS else samples


def load_client_codec(name: str, kbps: float) -> Any:
    """The codec a token-mode client runs: the same choice as `hark serve --codec NAME --kbps KBPS`."""
    import torch  # keep imports light

    from app.runtime import load_codec

    torch.set_num_threads(1)  # the client's codec on one core: the server under test needs the rest
    return load_codec(name, kbps)


class CachedEncoder:
    """One-shot codec encoding of whole packets, memoised by content.

    Capacity runs use it so that many simulated token-mode clients do not spend this machine's CPU (which
    the server needs) re-encoding the same questions: a real client encodes on its own machine.
    """

    def __init__(self, codec: Any):
        self.codec = codec
        self._codes: dict[bytes, np.ndarray] = {}

    def encode(self, pcm: np.ndarray) -> np.ndarray:
        """float32 [n * frame_size] -> int64 [K, n]."""
        key = hashlib.blake2b(pcm.tobytes(), digest_size=16).digest()
        if key not in self._codes:
            self._codes[key] = self.codec.encode(pcm)
        return self._codes[key]


class RealtimeClient:
    """One websocket session with a timed log; create with `RealtimeClient.connect`.

    Args:
        ws: the open websocket.
        mode: "pcm" or "tokens".
        codec: the server's codec (tokens mode only).
        encoder: encodes the mic's packets in tokens mode (default: the codec's streaming encoder).
        decode_audio: keep received audio as samples (decoding token frames); off for capacity runs.
        packet: mic packet size in samples.
    """

    def __init__(
        self,
        ws,
        mode: str,
        codec: Any = None,
        encoder: Any = None,
        decode_audio: bool = True,
        packet: int = 960,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == TOKENS and codec is None:
            raise ValueError("tokens mode needs the server's codec")
        self.ws, self.mode, self.codec, self.decode_audio = ws, mode, codec, decode_audio
        self._encoder = encoder or (codec.stream_encoder() if mode == TOKENS else None)
        self._decoder = codec.stream_decoder() if mode == TOKENS and decode_audio else None
        self.log: list[Arrival] = []
        self.session: dict = {}
        self.encode_ms: list[float] = []  # tokens mode: client codec ms per packet sent / frame received
        self.decode_ms: list[float] = []
        self._new = asyncio.Event()
        self._frames_sent = 0
        self._audio_response: str | None = None  # owner of kind-2 frames (latest output_item.added)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="bench-codec")
        self._tasks: list[asyncio.Task] = []
        granule = codec.frame_size if mode == TOKENS else 1
        self.mic = Mic(self._send_audio, packet, granule)

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls,
        url: str,
        mode: str = PCM,
        turn_detection: dict | None = None,
        max_output_tokens: int | None = None,
        api_key: str = "",
        **kwargs: Any,
    ) -> AsyncIterator[RealtimeClient]:
        """Connect, configure the session (formats, turn detection, response length) and start the mic.

        Raises:
            CodecMismatch: tokens mode with a codec that does not match the server's.
            ConnectionError: the server refused or closed the connection.
        """
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        async with websockets.connect(url, additional_headers=headers, open_timeout=60) as ws:
            client = cls(ws, mode, **kwargs)
            try:
                await client._start(turn_detection, max_output_tokens)
                yield client
            finally:
                await client._stop()

    async def _start(self, turn_detection: dict | None, max_output_tokens: int | None) -> None:
        async with asyncio.timeout(60):
            created = json.loads(await self.ws.recv())
        if created.get("type") != p.ServerEvents.SESSION_CREATED:
            raise ConnectionError(f"expected session.created, got {created.get('type')!r}")
        self.session = created["session"]
        if self.mode == TOKENS:
            self._check_codec(self.session["hark"]["codec"])
        self._tasks.append(asyncio.create_task(self._receive()))
        fmt = p.audio_format_json(p.TOKENS_FORMAT if self.mode == TOKENS else p.PCM_FORMAT)
        session = {
            "type": "realtime",
            "audio": {"input": {"format": fmt, "turn_detection": turn_detection}, "output": {"format": fmt}},
            "max_output_tokens": "inf" if max_output_tokens is None else max_output_tokens,
        }
        await self.send("session.update", session=session)
        updated = await self.wait_for(
            lambda a: a.type in (p.ServerEvents.SESSION_UPDATED, p.ServerEvents.ERROR), 30
        )
        if updated.type == p.ServerEvents.ERROR:
            raise ConnectionError(f"session.update refused: {updated.event['error']['message']}")
        self._tasks.append(asyncio.create_task(self.mic.run()))

    def _check_codec(self, info: dict) -> None:
        c = self.codec
        mine = {
            "sample_rate": c.sample_rate,
            "frame_size": c.frame_size,
            "num_codebooks": c.num_codebooks,
            "cardinality": c.cardinality,
            "checkpoint_sha256": c.checkpoint_sha256,
        }
        if mine != {k: info.get(k) for k in mine}:
            raise CodecMismatch(
                f"tokens mode needs the server's codec: the server has {info}, this client {mine}; "
                "pass the server's --codec and --kbps"
            )

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await task
        self._executor.shutdown(wait=True)

    # ----- sending -----
    async def send(self, type: str, **fields: Any) -> None:
        """Send one JSON client event."""
        await self.ws.send(json.dumps({"type": type, **fields}))

    async def speak(
        self, pcm: np.ndarray, after: Callable[[], Awaitable[None]] | None = None, timeout: float = 120.0
    ) -> Said:
        """Say `pcm` into the mic and wait until all of it (and `after`) was sent.

        Raises:
            ConnectionError: the connection ended first.
        """
        said = self.mic.say(pcm, after)
        sent = asyncio.create_task(said.sent.wait())
        try:
            await asyncio.wait([sent, *self._tasks], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sent.cancel()
        if not said.sent.is_set():
            raise ConnectionError(f"the utterance was not sent ({self.ws.close_code} {self.ws.close_reason})")
        return said

    async def ask(self, pcm: np.ndarray, commit: bool = True) -> tuple[Said, int]:
        """Say a question and, right after its last packet, commit it (if `commit`) and send
        `response.create`, as a push-to-talk client does on release. Returns the utterance and the log
        index from which the response's events follow."""
        mark = 0

        async def request() -> None:
            nonlocal mark
            if commit:
                await self.send("input_audio_buffer.commit")
            mark = len(self.log)
            await self.send("response.create")

        said = await self.speak(pcm, request)
        return said, mark

    async def _send_audio(self, pcm: np.ndarray) -> None:
        if self.mode == PCM:
            await self.send("input_audio_buffer.append", audio=p.encode_pcm16(pcm))
            return
        t0 = time.perf_counter()
        codes = await asyncio.get_running_loop().run_in_executor(self._executor, self._encoder.encode, pcm)
        self.encode_ms.append(1000 * (time.perf_counter() - t0))
        frame = p.TokenFrame(p.KIND_USER_CODES, codes, self._frames_sent)
        self._frames_sent += codes.shape[1]
        await self.ws.send(p.encode_token_frame(frame))

    # ----- receiving -----
    async def _receive(self) -> None:
        async for message in self.ws:
            t = time.monotonic()
            if isinstance(message, bytes):
                arrival = await self._on_frame(message, t)
            else:
                arrival = self._on_event(json.loads(message), t)
            self.log.append(arrival)
            self._new.set()

    def _on_event(self, event: dict, t: float) -> Arrival:
        kind = event.get("type", "?")
        rid = event.get("response_id") or (event.get("response") or {}).get("id")
        if kind == p.ServerEvents.OUTPUT_ITEM_ADDED and event["item"].get("type") == "message":
            self._audio_response = rid
        chunk = None
        if kind == p.ServerEvents.AUDIO_DELTA:
            audio = p.pcm16_to_float(p.decode_pcm16(event["delta"])) if self.decode_audio else None
            samples = len(audio) if audio is not None else len(event["delta"]) * 3 // 8
            chunk = Chunk(t, samples, audio)
            event = {k: v for k, v in event.items() if k != "delta"}  # the samples live in the chunk
        return Arrival(t, kind, event, rid, chunk)

    async def _on_frame(self, data: bytes, t: float) -> Arrival:
        frame = p.read_token_frame(data)
        if frame.kind != p.KIND_ASSISTANT_CODES:
            raise ConnectionError(f"unexpected binary frame kind {frame.kind}")
        audio, ready = None, t
        if self._decoder is not None:
            if frame.frame_index == 0:  # a response's audio starts a new decoder stream (as on the server)
                self._decoder.reset()
            loop = asyncio.get_running_loop()
            audio = await loop.run_in_executor(self._executor, self._decoder.decode, frame.codes)
            ready = time.monotonic()
            self.decode_ms.append(1000 * (ready - t))
        n = frame.codes.shape[1]
        chunk = Chunk(ready, n * (self.codec.frame_size if self.codec else 320), audio)
        return Arrival(t, AUDIO_FRAME, {"frame_index": frame.frame_index}, self._audio_response, chunk)

    async def wait_for(self, predicate: Callable[[Arrival], bool], timeout: float, start: int = 0) -> Arrival:
        """The first logged message from index `start` on that satisfies `predicate`, waiting for it.

        Raises:
            TimeoutError: none within `timeout` seconds.
            ConnectionError: the connection ended first.
        """
        deadline, i = time.monotonic() + timeout, start
        while True:
            while i < len(self.log):
                if predicate(self.log[i]):
                    return self.log[i]
                i += 1
            if self._tasks[0].done():
                raise ConnectionError(f"the connection ended ({self.ws.close_code} {self.ws.close_reason})")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching server event within {timeout:g} s")
            self._new.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
            # arrives as the event is set, and a benchmark user that closes must really stop
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._new.wait()

    def forget(self) -> None:
        """Drop the log (long runs that keep their own numbers); indexes into it start again at 0."""
        self.log.clear()

    def audio(self, response_id: str) -> list[Chunk]:
        """The received audio of one response, in order."""
        return [a.chunk for a in self.log if a.chunk is not None and a.response_id == response_id]

    def events(self, kind: str, response_id: str | None = None) -> list[Arrival]:
        """Logged events of one type (of one response, when given)."""
        return [
            a for a in self.log if a.type == kind and (response_id is None or a.response_id == response_id)
        ]

    def errors(self) -> list[dict]:
        """The `error` events received."""
        return [a.event["error"] for a in self.log if a.type == p.ServerEvents.ERROR]
