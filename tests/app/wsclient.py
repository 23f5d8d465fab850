"""A plain websockets test client for the realtime service, and PCM16 packing for the audio it sends."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time

import numpy as np
import websockets


def pcm16(wav: np.ndarray) -> bytes:
    """float32 samples -> PCM16 little-endian bytes."""
    return (np.clip(wav, -1, 1) * 32767).astype("<i2").tobytes()


class Client:
    """A plain websockets client that speaks JSON events and remembers everything it received."""

    def __init__(self, ws):
        self.ws = ws
        self.events: list[dict] = []
        self.binary: list[bytes] = []

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, server, **kwargs):
        host = server.config.host
        async with websockets.connect(f"ws://{host}:{server.port}/v1/realtime", **kwargs) as ws:
            yield cls(ws)

    async def send(self, type: str, **fields) -> None:
        await self.ws.send(json.dumps({"type": type, **fields}))

    async def append(self, pcm: bytes, chunk: int = 9600) -> None:
        """Send PCM16 bytes as input_audio_buffer.append events of `chunk` bytes (all at once)."""
        for i in range(0, len(pcm), chunk):
            await self.send("input_audio_buffer.append", audio=base64.b64encode(pcm[i : i + chunk]).decode())

    async def until(self, predicate, timeout: float = 20.0) -> dict:
        """Receive until an event satisfies `predicate` (a type name or a function); returns it."""
        if isinstance(predicate, str):
            name = predicate
            predicate = lambda e: e["type"] == name  # noqa: E731
        deadline = time.monotonic() + timeout
        while True:
            message = await asyncio.wait_for(self.ws.recv(), max(0.01, deadline - time.monotonic()))
            if isinstance(message, bytes):
                self.binary.append(message)
                continue
            event = json.loads(message)
            self.events.append(event)
            if predicate(event):
                return event

    async def drain(self, seconds: float) -> None:
        """Receive whatever arrives in the next `seconds`."""
        with contextlib.suppress(TimeoutError):
            await self.until(lambda e: False, timeout=seconds)

    def of(self, type: str) -> list[dict]:
        return [e for e in self.events if e["type"] == type]
