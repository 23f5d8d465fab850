"""Fixtures for the realtime service tests: the tiny untrained engine, a small random codec, spoken questions,
and a real server on port 0 with a small JSON websocket client."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time

import numpy as np
import pytest
import torch
import websockets

from app.commands.serve import ModelChoice, load_models
from app.server import ServerConfig, running_server
from audio.tts import Voice, synthesize

STEP_SAMPLES = 1280


@pytest.fixture(autouse=True)
def _one_thread():
    """The machine's two cores are shared: keep torch on one thread."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def models():
    """(Engine, Codec): Engine.random("tiny") and an 8-filter random codec, as `hark serve` builds them."""
    torch.set_num_threads(1)
    return load_models(ModelChoice(engine="random:tiny", codec="random"))


@pytest.fixture(scope="session")
def question() -> np.ndarray:
    """A spoken question (espeak-ng), float32 24 kHz."""
    return synthesize("what is seventeen plus five", Voice("espeak-ng", "en-us+m1"))


def pcm16(wav: np.ndarray) -> bytes:
    """float32 samples -> PCM16 little-endian bytes."""
    return (np.clip(wav, -1, 1) * 32767).astype("<i2").tobytes()


@pytest.fixture
def serve(models):
    """`async with serve(**config) as server`: a real HarkServer on 127.0.0.1, port 0, seed 0."""

    @contextlib.asynccontextmanager
    async def start(**overrides):
        config = ServerConfig(**{"port": 0, "seed": 0, **overrides})
        async with running_server(config, *models) as server:
            yield server

    return start


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
