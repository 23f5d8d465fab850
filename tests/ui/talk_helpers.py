"""Helpers shared by the talk client tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest


async def until(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Poll `predicate` every 20 ms until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(0.02)


async def press(pilot, *keys: str) -> None:
    """Press keys as a user would, through the app's bindings and focus, then let the screen settle.

    Pilot.press also waits for the whole process to go idle, which never happens while the engine's threads
    run (it then times out at 2 s per key); the key handling itself is the same.
    """
    for key in keys:
        pilot.app.simulate_key(key)
        await pilot.pause(0.05)
