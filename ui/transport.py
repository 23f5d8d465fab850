"""How the talk client reaches a realtime session: a websocket to `hark serve`, or that session in-process.

Both transports carry the Realtime events of app/protocol.py (dicts; binary token frames as bytes), so the
conversation client above them is one piece of code. `EmbeddedTransport` runs the server's own
`app.session.RealtimeSession` without a socket: the turn-taking, VAD, barge-in and response logic are the
service's, not a second implementation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from app.protocol import REALTIME_PATH
from app.runtime import shared_runtime
from app.session import RealtimeSession, SessionRuntime
from audio.codec import Codec
from engine.engine import Engine, SamplingConfig

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 << 20
CLOSE_TIMEOUT_S = 2.0


class TransportClosed(Exception):
    """The session ended (socket closed, server gone); the message says why."""


class Transport(Protocol):
    """One realtime session as seen by the client."""

    async def send(self, message: dict | bytes) -> None: ...

    async def receive(self) -> dict | bytes: ...

    async def close(self) -> None: ...


class Connector(Protocol):
    """Opens sessions (one per conversation; again after a drop) and releases what they share at the end."""

    description: str

    async def open(self) -> Transport: ...

    async def close(self) -> None: ...


class WebsocketConnector:
    """Sessions on a `hark serve` at `url` (see `realtime_url`), authenticated with `api_key` if given."""

    def __init__(self, url: str, api_key: str | None = None) -> None:
        self.url, self._api_key = url, api_key
        self.description = url

    async def open(self) -> Transport:
        return await WebsocketTransport.open(self.url, self._api_key)

    async def close(self) -> None:
        pass


class EmbeddedConnector:
    """Sessions of an in-process runtime, started on the first `open` (it needs the running event loop)."""

    def __init__(self, engine: Engine, codec: Codec, instructions: str = "", seed: int | None = None) -> None:
        self._args = (engine, codec, instructions, seed)
        self._stack = contextlib.AsyncExitStack()
        self._runtime: SessionRuntime | None = None
        self.description = "embedded engine"

    async def open(self) -> Transport:
        if self._runtime is None:
            self._runtime = await self._stack.enter_async_context(embedded_runtime(*self._args))
        return EmbeddedTransport(self._runtime)

    async def close(self) -> None:
        self._runtime = None
        await self._stack.aclose()


def realtime_url(address: str) -> str:
    """`ws://host:port` (or http/https, or a bare host:port) -> the service's realtime endpoint URL."""
    if "://" not in address:
        address = "ws://" + address
    parts = urlsplit(address)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(f"--connect needs ws://HOST:PORT, got {address!r}")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") or REALTIME_PATH, parts.query, ""))


class WebsocketTransport:
    """A websocket to `hark serve` (or any OpenAI-Realtime-shaped service)."""

    def __init__(self, socket) -> None:
        self._socket = socket

    @classmethod
    async def open(cls, url: str, api_key: str | None = None, timeout_s: float = 5.0) -> WebsocketTransport:
        """Connect; raises TransportClosed with the reason when the service cannot be reached."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, InvalidURI

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        try:
            socket = await connect(
                url,
                additional_headers=headers,
                open_timeout=timeout_s,
                max_size=MAX_MESSAGE_BYTES,
                proxy=None,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as e:
            raise TransportClosed(f"cannot reach {url}: {e or type(e).__name__}") from e
        return cls(socket)

    async def send(self, message: dict | bytes) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            await self._socket.send(message if isinstance(message, bytes) else json.dumps(message))
        except ConnectionClosed as e:
            raise TransportClosed(_closed_reason(e)) from e

    async def receive(self) -> dict | bytes:
        from websockets.exceptions import ConnectionClosed

        try:
            message = await self._socket.recv()
        except ConnectionClosed as e:
            raise TransportClosed(_closed_reason(e)) from e
        return message if isinstance(message, bytes) else json.loads(message)

    async def close(self) -> None:
        await self._socket.close()


def _closed_reason(e: Exception) -> str:
    rcvd = getattr(e, "rcvd", None)
    if rcvd is None:
        return "the connection to the server dropped"
    return f"the server closed the session (code {rcvd.code}{': ' + rcvd.reason if rcvd.reason else ''})"


class EmbeddedTransport:
    """A `RealtimeSession` of an in-process runtime; its events arrive as if from the socket."""

    def __init__(self, runtime: SessionRuntime) -> None:
        self._events: asyncio.Queue[dict | bytes] = asyncio.Queue()
        self._session = RealtimeSession(runtime, self._events.put_nowait)
        self._session.start()
        self._task = asyncio.get_running_loop().create_task(self._session.run(), name="embedded-session")

    async def send(self, message: dict | bytes) -> None:
        if self._task.done():
            raise TransportClosed(self._stopped())
        if isinstance(message, bytes):
            self._session.handle_binary(message)
        else:
            self._session.handle_text(json.dumps(message))

    async def receive(self) -> dict | bytes:
        getter = asyncio.ensure_future(self._events.get())
        done, _ = await asyncio.wait({getter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            return getter.result()
        getter.cancel()
        raise TransportClosed(self._stopped())

    def _stopped(self) -> str:
        if self._task.cancelled():
            return "the embedded session was closed"
        return f"the embedded session stopped: {self._task.exception()!r}"

    async def close(self) -> None:
        self._task.cancel()
        # Bounded wait: a session task that swallows its cancellation must not hang the app's exit.
        await asyncio.wait({self._task}, timeout=CLOSE_TIMEOUT_S)
        if not self._task.done():
            log.warning("the embedded session did not stop within %g s of being cancelled", CLOSE_TIMEOUT_S)
        self._session.close()


def embedded_runtime(
    engine: Engine, codec: Codec, instructions: str = "", seed: int | None = None
) -> contextlib.AbstractAsyncContextManager[SessionRuntime]:
    """The runtime `hark serve` gives its sessions (app/runtime.py), sized for one in-process session."""
    return shared_runtime(
        engine, codec, instructions=instructions, sampling=SamplingConfig(seed=seed), max_batch=1, workers=1
    )
