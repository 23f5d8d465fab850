"""The continuous-batching scheduler: same tokens as stepping alone, fair batches, clean join/leave."""

import asyncio
import threading
import time

import numpy as np
import pytest

from engine.engine import Engine, SamplingConfig
from engine.scheduler import Scheduler


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.random("tiny", seed=0)


def codes_for(session: int, steps: int) -> np.ndarray:
    return np.random.default_rng(session).integers(0, 1024, (steps, 4, 4))


async def test_scheduler_matches_sessions_run_alone(engine):
    """Concurrent sessions through the scheduler produce exactly the tokens each produces alone."""
    steps, n = 10, 4
    alone = []
    for i in range(n):
        s = engine.new_session(f"session {i}", SamplingConfig(seed=i))
        alone.append([engine.step([s], c[None])[0] for c in codes_for(i, steps)])
        s.close()

    async def client(scheduler, i):
        handle = scheduler.open(f"session {i}", SamplingConfig(seed=i))
        await asyncio.sleep(0.003 * i)  # join at different times
        outs = [await handle.step(c) for c in codes_for(i, steps)]
        handle.close()
        return outs

    async with Scheduler(engine, max_batch=16) as scheduler:
        results = await asyncio.gather(*(client(scheduler, i) for i in range(n)))
    for a, b in zip(alone, results, strict=True):
        assert [o.text_token for o in a] == [o.text_token for o in b]
        assert all(np.array_equal(x.audio_codes, y.audio_codes) for x, y in zip(a, b, strict=True))
    assert max(scheduler.batch_sizes) > 1  # sessions really were batched


async def test_batches_take_one_step_per_session_and_respect_max_batch(engine):
    """Queued steps of one session go to separate batches; batches never exceed max_batch."""
    async with Scheduler(engine, max_batch=2) as scheduler:
        handles = [scheduler.open() for _ in range(3)]
        calls = [h.step(c) for h in handles for c in codes_for(0, 3)]
        outs = await asyncio.gather(*calls)
    assert [o.step for o in outs] == [0, 1, 2] * 3
    assert max(scheduler.batch_sizes) <= 2


async def test_closed_handle_releases_its_cache_and_refuses_steps(engine):
    """close() cancels nothing else, frees the cache row for reuse and makes further steps fail."""
    async with Scheduler(engine) as scheduler:
        a, b = scheduler.open(), scheduler.open()
        await asyncio.gather(a.step(codes_for(0, 1)[0]), b.step(codes_for(1, 1)[0]))
        row = a.session.cache.row
        a.close()
        await b.step(codes_for(1, 1)[0])  # one more iteration: the worker releases a's row
        c = scheduler.open()
        with pytest.raises(RuntimeError):
            await a.step(codes_for(0, 1)[0])
        assert (await c.step(codes_for(2, 1)[0])).step == 0
        assert c.session.cache.row == row


async def test_open_does_not_wait_for_a_step_in_flight(engine):
    """open() returns at once while a batched step holds the cache lock; the session steps afterwards."""
    async with Scheduler(engine) as scheduler:
        while engine.cache.free:  # use every row, so the next session must grow the pool
            await scheduler.open().step(codes_for(0, 1)[0])
        rows = engine.cache.k[0].shape[0]
        held, release = threading.Event(), threading.Event()

        def long_step() -> None:
            with engine.cache.lock:
                held.set()
                release.wait(5)

        blocker = threading.Thread(target=long_step)
        blocker.start()
        held.wait(5)
        t0 = time.monotonic()
        handle = scheduler.open("a new session")
        opened_s = time.monotonic() - t0
        release.set()
        blocker.join()
        assert opened_s < 0.5
        assert (await handle.step(codes_for(1, 1)[0])).step == 0
        assert handle.session.cache.row >= rows and engine.cache.k[0].shape[0] == 2 * rows


async def test_engine_errors_reach_the_caller_and_worker_survives(engine):
    """A bad chunk raises in the awaiting caller; the scheduler keeps serving afterwards."""
    async with Scheduler(engine) as scheduler:
        handle = scheduler.open()
        with pytest.raises(ValueError):
            await handle.step(np.zeros((4, 3), np.int64))
        assert (await handle.step(codes_for(0, 1)[0])).step == 0


async def test_sessions_out_of_phase_share_one_tick(engine):
    """A chunk that arrives a little after another session's joins its batch instead of stepping alone."""
    async with Scheduler(engine, window_s=0.5) as scheduler:
        a, b = scheduler.open(), scheduler.open()
        codes = codes_for(0, 4)
        await asyncio.gather(a.step(codes[0]), b.step(codes[0]))  # both sessions are active from now on

        async def late(c):
            await asyncio.sleep(0.03)
            return await b.step(c)

        for c in codes[1:]:
            await asyncio.gather(a.step(c), late(c))
    assert list(scheduler.batch_sizes)[-3:] == [2, 2, 2]


async def test_a_quiet_session_delays_the_others_by_one_window_at_most(engine):
    """When an active session stops sending, the others still step (after the window), alone."""
    async with Scheduler(engine, window_s=0.05) as scheduler:
        a, b = scheduler.open(), scheduler.open()
        codes = codes_for(0, 3)
        await asyncio.gather(a.step(codes[0]), b.step(codes[0]))
        outs = [await asyncio.wait_for(a.step(c), 5) for c in codes[1:]]
    assert [o.step for o in outs] == [1, 2]
    assert list(scheduler.batch_sizes)[-2:] == [1, 1]
