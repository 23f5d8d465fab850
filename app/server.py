"""The websocket service behind `hark serve`: admission, limits, one handler per connection, shutdown.

Each connection runs three tasks joined by `asyncio.wait(FIRST_COMPLETED)`: the receive loop (client
messages into the session), the send loop (a bounded queue out to the socket, with the socket's own
backpressure) and the session's engine loop; plus the session's time limit and the server's stop signal.
Whichever ends first ends the connection, with a close code saying why (docs/protocol.md, "Limits"):

    1000 session time limit reached        1001 server shutting down
    1008 client not reading (send queue)   1009 message too large (websockets)   1011 internal error

Before the upgrade, `process_request` checks the path, the API key (`Authorization: Bearer KEY`, as the
OpenAI SDK sends it; compared in constant time, never logged) and the session limit (HTTP 503).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.protocol import State

from app.protocol import REALTIME_PATH, ProtocolError
from app.runtime import shared_runtime
from app.session import RealtimeSession, SessionRuntime
from audio.codec import Codec
from engine.engine import Engine, SamplingConfig

log = logging.getLogger(__name__)

FLUSH_TIMEOUT_S = 1.0  # time given to queued events (response.done, error) before a connection is closed


@dataclass
class ServerConfig:
    """Network, limits and session defaults of the realtime service."""

    host: str = field(default="127.0.0.1", metadata={"help": "address to bind; non-loopback needs --api-key"})
    port: int = field(default=8765, metadata={"help": "TCP port (0: any free port)"})
    api_key: str | None = field(
        default=None, metadata={"help": "clients must send 'Authorization: Bearer KEY' (env HARK_API_KEY)"}
    )
    max_sessions: int = field(default=8, metadata={"help": "concurrent sessions; more get HTTP 503"})
    max_message_bytes: int = field(default=1 << 20, metadata={"help": "largest client message (close 1009)"})
    send_queue_max: int = field(
        default=256, metadata={"help": "queued server messages before a client is cut"}
    )
    max_input_ahead_s: float = field(
        default=30.0, metadata={"help": "seconds of audio a client may send ahead"}
    )
    max_session_s: float = field(default=3600.0, metadata={"help": "session time limit in seconds"})
    instructions: str = field(
        default="", metadata={"help": "default text context (instructions) of sessions"}
    )
    seed: int | None = field(
        default=None, metadata={"help": "sampling seed for every session (reproducible)"}
    )
    audio_temperature: float = field(
        default=SamplingConfig.audio_temperature,
        metadata={"help": "sampling temperature of the assistant's speech codes (0: always the likeliest)"},
    )

    def check(self) -> None:
        """Refuse an unauthenticated service on a non-loopback address (ValueError)."""
        if not _is_default_loopback(self.host) and not self.api_key:
            raise ValueError(
                f"binding {self.host} exposes the service beyond this machine: set --api-key or HARK_API_KEY"
            )
        if self.max_sessions < 1 or self.send_queue_max < 1:
            raise ValueError("max_sessions and send_queue_max must be at least 1")
        if self.audio_temperature < 0:
            raise ValueError(f"audio_temperature must be >= 0, got {self.audio_temperature}")


def _is_default_loopback(host: str) -> bool:
    """Addresses served without a key: localhost, 127.0.0.1 and ::1 (any other, even 127.0.0.2, needs one)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host) in (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
    except ValueError:
        return False


class _Outbox:
    """A connection's bounded send queue; overflowing it marks the client as too slow."""

    def __init__(self, ws: ServerConnection, limit: int):
        self.ws = ws
        self.queue: asyncio.Queue[dict | bytes] = asyncio.Queue(limit)
        self.overflow = asyncio.Event()
        self.sent = 0

    def put(self, message: dict | bytes) -> None:
        if self.overflow.is_set():
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflow.set()

    async def run(self) -> None:
        while True:
            message = await self.queue.get()
            await self.ws.send(json.dumps(message) if isinstance(message, dict) else message)
            self.sent += 1
            self.queue.task_done()


class HarkServer:
    """The realtime service.

    Args:
        config: network and limits (checked with `ServerConfig.check`).
        runtime: the shared models and scheduler (the scheduler must be running).
    """

    def __init__(self, config: ServerConfig, runtime: SessionRuntime):
        config.check()
        self.config, self.runtime = config, runtime
        self.sessions: dict[ServerConnection, RealtimeSession] = {}
        self._admitted: set[ServerConnection] = set()
        self._stopping = asyncio.Event()
        self._server: Server | None = None

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        """Bind and start accepting connections."""
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=self._admit,
            max_size=self.config.max_message_bytes,
            close_timeout=2,
            server_header="hark",
        )

    async def stop(self) -> None:
        """Stop accepting, cancel in-flight responses, close every session (1001) and wait for them."""
        if self._server is None:
            return
        self._server.close(close_connections=False)
        self._stopping.set()
        await self._server.wait_closed()
        self._server = None

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        """Before the upgrade: path, API key, session limit."""
        if urlsplit(request.path).path.rstrip("/") != REALTIME_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, f"hark serves websockets at {REALTIME_PATH}\n")
        key = self.config.api_key
        if key:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
                return connection.respond(
                    HTTPStatus.UNAUTHORIZED, "missing or wrong API key (Authorization: Bearer)\n"
                )
        if self._stopping.is_set():
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "server is shutting down\n")
        self._admitted = {c for c in self._admitted if c.state is not State.CLOSED}
        if len(self._admitted) >= self.config.max_sessions:
            n = self.config.max_sessions
            return connection.respond(
                HTTPStatus.SERVICE_UNAVAILABLE, f"server full: all {n} sessions in use, try again later\n"
            )
        self._admitted.add(connection)
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        outbox = _Outbox(ws, self.config.send_queue_max)
        session = RealtimeSession(self.runtime, outbox.put)
        self.sessions[ws] = session
        log.info("session %s started (%s)", session.id, _peer(ws))
        session.start()
        tasks = {
            asyncio.create_task(self._receive(ws, session)): "receive",
            asyncio.create_task(outbox.run()): "send",
            asyncio.create_task(session.run()): "engine",
            asyncio.create_task(asyncio.sleep(self.config.max_session_s)): "expired",
            asyncio.create_task(outbox.overflow.wait()): "overflow",
            asyncio.create_task(self._stopping.wait()): "shutdown",
        }
        code, reason = 1000, ""
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            code, reason = self._ending(session, {tasks[t]: t for t in done})
            await self._flush(outbox, tasks, code)
        finally:
            for task in tasks:
                task.cancel()
            session.close()
            del self.sessions[ws]
            self._admitted.discard(ws)
            await ws.close(code, reason)
            summary = session.summary()
            log.info(
                "session %s stopped: close %s %s; %s", session.id, ws.close_code or code, reason, summary
            )

    def _ending(self, session: RealtimeSession, done: dict[str, asyncio.Task]) -> tuple[int, str]:
        """Close code and reason for whichever task ended the connection; cancels a running response."""
        for name in ("engine", "send", "receive"):
            task = done.get(name)
            error = task.exception() if task is not None and not task.cancelled() else None
            if error is not None and name != "receive" and not isinstance(error, websockets.ConnectionClosed):
                log.error("session %s: %s task failed", session.id, name, exc_info=error)
                return 1011, "internal error"
        if "overflow" in done:
            return 1008, f"client not reading: over {self.config.send_queue_max} queued messages"
        if "shutdown" in done:
            session.shutdown("server_shutdown")
            return 1001, "server shutting down"
        if "expired" in done:
            limit = self.config.max_session_s
            session.error(
                ProtocolError("session_expired", f"the session time limit ({limit:g} s) was reached")
            )
            session.shutdown("session_expired")
            return 1000, f"session time limit ({self.config.max_session_s:g} s) reached"
        return 1000, "client closed"

    async def _flush(self, outbox: _Outbox, tasks: dict, code: int) -> None:
        """Give queued events a moment to go out (not when the client is the problem)."""
        sender = next(t for t, name in tasks.items() if name == "send")
        if code in (1008, 1011) or sender.done() or outbox.ws.state is not State.OPEN:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(outbox.queue.join(), FLUSH_TIMEOUT_S)

    async def _receive(self, ws: ServerConnection, session: RealtimeSession) -> None:
        async for message in ws:
            if isinstance(message, str):
                session.handle_text(message)
            else:
                session.handle_binary(message)


def _peer(ws: ServerConnection) -> str:
    address = ws.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"


@contextlib.asynccontextmanager
async def running_server(
    config: ServerConfig,
    engine: Engine,
    codec: Codec,
    max_batch: int = 16,
    workers: int = 2,
    batch_window_s: float = 0.0,
) -> AsyncIterator[HarkServer]:
    """Start the shared runtime (app/runtime.py) and the server on it; stop them all on exit.

    `max_batch` and `batch_window_s` configure the engine Scheduler, `workers` the codec/VAD threads."""
    config.check()
    async with shared_runtime(
        engine,
        codec,
        instructions=config.instructions,
        sampling=SamplingConfig(audio_temperature=config.audio_temperature, seed=config.seed),
        max_input_ahead_s=config.max_input_ahead_s,
        max_batch=max_batch,
        batch_window_s=batch_window_s,
        workers=workers,
    ) as runtime:
        server = HarkServer(config, runtime)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()
