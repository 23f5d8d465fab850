"""Fixtures for the realtime service tests: a real server on port 0 (the tiny untrained engine and the small
random codec of tests/conftest.py)."""

from __future__ import annotations

import contextlib

import pytest

from app.server import ServerConfig, running_server


@pytest.fixture
def serve(models):
    """`async with serve(**config) as server`: a real HarkServer on 127.0.0.1, port 0, seed 0."""

    @contextlib.asynccontextmanager
    async def start(**overrides):
        config = ServerConfig(**{"port": 0, "seed": 0, **overrides})
        async with running_server(config, *models) as server:
            yield server

    return start
