"""`hark bench capacity`: the most concurrent real-time sessions one `hark serve` keeps up with (PCM, tokens).

Every simulated user is a real-time client (app/bench/client.py) with an open mic that loops: a held-out
question, commit + `response.create`, the response (at most --max-response-steps steps), a short gap.
Sessions use server VAD without automatic responses, so VAD costs what it costs by default. Token-mode
clients send pre-encoded codes (`CachedEncoder`): a real client encodes on its own machine, and here the
clients share the server's two cores.

Falling behind real time. The server produces one audio message per input step it consumes, and it
completes the question's last step with silence as soon as the commit arrives, so while a response plays,
message k of a response asked for at the end of a question should arrive at `end of question + k x 53.3 ms`
plus the processing time of one step. Its *output lag* is the arrival minus that ideal time (a model that
waits w steps before speaking adds a constant w x 53 ms). A
server that keeps up has a stationary lag; one that does not accumulates backlog and the lag grows without
bound. A level of N sessions is **behind** when, over the measured window, any of these holds:

    lag p95 over all sessions > --max-lag-ms (default 500: the response-latency p95 target)
    any session's lag grew by > --max-lag-growth-ms (median of the last third of the window minus the first)
    any session got an `error` event (e.g. input_rate_exceeded), lost its connection, or got no audio

Ramp: levels from --sessions are held --ramp-hold-s each (after --warmup-s) until one is behind; then the
largest level that kept up is confirmed with a --hold-s window (60 s), stepping down if it fails. Loopback
only, bounded: every level, window and response wait has a limit, and the run ends by itself.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import websockets

from app.bench import stats
from app.bench.client import TOKENS, CachedEncoder, RealtimeClient, load_client_codec, packet_samples
from app.bench.profile import format_profile
from app.bench.questions import Utterance, held_out_questions
from app.bench.server_process import Target, TargetConfig, check_modes, measuring
from app.protocol import ServerEvents
from app.runtime import HarkError

STEP_S = 1280 / 24000  # one engine step of input
VAD = {"type": "server_vad", "create_response": False, "interrupt_response": False}
TARGETS = {"tokens": 8, "pcm": 2}  # real-time sessions on the 2-core CPU with the shipped model


@dataclass
class CapacityConfig(TargetConfig):
    """Settings of `hark bench capacity` (field names are its flags)."""

    modes: list[str] = field(
        default_factory=lambda: ["pcm", "tokens"], metadata={"help": "pcm and/or tokens"}
    )
    sessions: list[int] = field(
        default_factory=lambda: [1, 2, 4, 6, 8, 12, 16], metadata={"help": "session counts to try, ascending"}
    )
    ramp_hold_s: float = field(default=10.0, metadata={"help": "measured seconds per level while ramping"})
    hold_s: float = field(default=60.0, metadata={"help": "measured seconds confirming the best level"})
    warmup_s: float = field(default=4.0, metadata={"help": "seconds after sessions join before measuring"})
    max_lag_ms: float = field(default=500.0, metadata={"help": "behind: output lag p95 above this"})
    max_lag_growth_ms: float = field(default=150.0, metadata={"help": "behind: a session's lag grew by more"})
    packet_ms: float = field(default=40.0, metadata={"help": "mic packet length"})
    max_response_steps: int = field(
        default=40, metadata={"help": "max_output_tokens (53 ms steps) per response"}
    )
    gap_s: float = field(default=0.5, metadata={"help": "silence between a response and the next question"})
    questions: int = field(
        default=8, metadata={"help": "distinct held-out questions the users cycle through"}
    )
    seed: int = field(default=0, metadata={"help": "picks the questions and the users' start offsets"})
    synthesizers: list[str] = field(
        default_factory=lambda: ["espeak-ng", "flite"], metadata={"help": "voices"}
    )
    speech_cache: str = field(default="data/cache/bench-speech", metadata={"help": "synthesized questions"})


CONFIG = CapacityConfig


class User:
    """One simulated real-time user; its output lags and failures are timestamped for the level windows."""

    def __init__(self, index: int, server: Target, mode: str, questions: list[Utterance], encoder, config):
        self.index, self.server, self.mode, self.config = index, server, mode, config
        self.questions, self.encoder = questions, encoder
        self.lags: list[tuple[float, float]] = []  # (arrival time, lag ms) per audio message
        self.failures: list[tuple[float, str]] = []
        self.client: RealtimeClient | None = None
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        cfg = self.config
        try:
            async with self.server.connect(
                self.mode,
                VAD,
                cfg.max_response_steps,
                codec=self.encoder.codec if self.encoder else None,
                encoder=self.encoder,
                decode_audio=False,
                packet=packet_samples(cfg.packet_ms, self.mode),
            ) as client:
                self.client = client
                await asyncio.sleep(random.Random(cfg.seed + self.index).uniform(0, 1))  # not all in step
                for turn in itertools.count(self.index):  # until close() cancels it
                    await self._turn(client, self.questions[turn % len(self.questions)])
                    await asyncio.sleep(cfg.gap_s)
        except (OSError, ConnectionError, TimeoutError, websockets.WebSocketException) as e:
            self.failures.append((time.monotonic(), f"connection: {e!r}"))

    async def _turn(self, client: RealtimeClient, question: Utterance) -> None:
        said, start = await client.ask(question.pcm)
        asked = said.end_t  # the server pads the last step at once, then steps on the mic's next samples
        timeout = question.seconds + self.config.max_response_steps * STEP_S + 10.0
        try:
            created = await client.wait_for(
                lambda a: a.type in (ServerEvents.RESPONSE_CREATED, ServerEvents.ERROR), timeout, start
            )
            if created.type == ServerEvents.ERROR:
                raise ValueError(created.event["error"]["message"])
            rid = created.response_id
            await client.wait_for(
                lambda a: a.type == ServerEvents.RESPONSE_DONE and a.response_id == rid, timeout, start
            )
        except (TimeoutError, ValueError) as e:
            self.failures.append((time.monotonic(), str(e)))
            return
        audio = [a for a in client.log[start:] if a.chunk is not None and a.response_id == rid]
        self.lags += [(a.t, 1000 * (a.t - asked - k * STEP_S)) for k, a in enumerate(audio)]
        self.failures += [
            (a.t, a.event["error"]["message"]) for a in client.log[start:] if a.type == ServerEvents.ERROR
        ]
        client.forget()  # long runs: keep memory flat (the lags are all this user needs)

    async def close(self) -> None:
        """Hang up now (mid-turn too: nothing after this is measured).

        Raises:
            RuntimeError: the user did not stop within 30 s (a bug: every wait in a turn is cancellable).
        """
        self.task.cancel()
        done, _ = await asyncio.wait({self.task}, timeout=30)
        if not done:
            raise RuntimeError(f"simulated user {self.index} did not hang up")
        if not self.task.cancelled() and self.task.exception() is not None:
            raise self.task.exception()


@dataclass
class Window:
    """What one measured window saw."""

    sessions: int
    seconds: float
    lag: list[float]  # ms, all sessions
    growth: list[float]  # ms per session
    failures: list[str]
    silent_users: int  # users without any audio in the window
    mic_late: list[float]  # ms per packet, all sessions (how late the clients themselves were)
    cpu: dict


async def measure(users: list[User], seconds: float, meter: stats.CpuMeter) -> Window:
    """Watch the running users for `seconds`: their lags, lag growth, failures, CPU."""
    t0, cpu0 = time.monotonic(), meter.sample()
    marks = [len(u.client.mic.late_ms) if u.client else 0 for u in users]
    await asyncio.sleep(seconds)
    t1, cpu = time.monotonic(), meter.between(cpu0, meter.sample())
    lags, growth, silent, late = [], [], 0, []
    for user, mark in zip(users, marks, strict=True):
        mine = [(t, lag) for t, lag in user.lags if t0 <= t <= t1]
        silent += not mine
        lags += [lag for _, lag in mine]
        growth.append(_growth(mine, t0, t1))
        late += list(user.client.mic.late_ms)[mark:] if user.client else []
    failures = [f"user {u.index}: {why}" for u in users for t, why in u.failures if t0 <= t <= t1]
    return Window(len(users), round(t1 - t0, 1), lags, growth, failures, silent, late, cpu)


def _growth(lags: list[tuple[float, float]], t0: float, t1: float) -> float:
    """Median lag in the window's last third minus its first third (0 without samples in both)."""
    third = (t1 - t0) / 3
    first = [lag for t, lag in lags if t < t0 + third]
    last = [lag for t, lag in lags if t > t1 - third]
    return float(np.median(last) - np.median(first)) if first and last else 0.0


def judge(window: Window, config: CapacityConfig) -> dict:
    """The JSON record of a window, with `realtime` and the reasons it is not."""
    lag = stats.summary(window.lag)
    reasons = []
    if lag["p95"] is None or lag["p95"] > config.max_lag_ms:
        reasons.append(f"lag p95 {lag['p95']} ms > {config.max_lag_ms:g}")
    if window.growth and max(window.growth) > config.max_lag_growth_ms:
        reasons.append(f"lag grew {max(window.growth):.0f} ms > {config.max_lag_growth_ms:g}")
    if window.silent_users:
        reasons.append(f"{window.silent_users} sessions got no audio")
    if window.failures:
        reasons.append(f"{len(window.failures)} failures, e.g. {window.failures[0]}")
    return {
        "sessions": window.sessions,
        "seconds": window.seconds,
        "realtime": not reasons,
        "reasons": reasons,
        "lag_ms": lag,
        "lag_growth_ms_max": round(max(window.growth), 1) if window.growth else None,
        "client_mic_late_ms": stats.summary(window.mic_late),
        "failures": window.failures[:10],
        "cpu": window.cpu,
    }


class Crowd:
    """The users of one mode that are running now.

    Args:
        make_user: starts user number i.
        warmup_s: seconds to wait after a change before measuring.
    """

    def __init__(self, make_user: Callable[[int], User], warmup_s: float):
        self.make_user, self.warmup_s = make_user, warmup_s
        self.users: list[User] = []
        self._next = 0  # every user gets a new number: its question and start offsets

    async def resize(self, n: int) -> None:
        """Run `n` users (closing the newest or adding new ones), then let them warm up."""
        while len(self.users) > n:
            await self.users.pop().close()
        while len(self.users) < n:
            self.users.append(self.make_user(self._next))
            self._next += 1
        if n:
            await asyncio.sleep(self.warmup_s)


async def ramp(server: Target, mode: str, questions: list[Utterance], encoder, config, meter) -> dict:
    """Add users level by level until one is behind, then confirm the best level with the long hold."""
    async with server.connect(mode, VAD, None, codec=encoder.codec if encoder else None, encoder=encoder):
        pass  # a probe: the session settings and a token client's codec work
    crowd = Crowd(lambda i: User(i, server, mode, questions, encoder, config), config.warmup_s)
    levels, passing, confirms = [], [], []
    try:
        for n in config.sessions:
            await crowd.resize(n)
            levels.append(judge(await measure(crowd.users, config.ramp_hold_s, meter), config))
            if not levels[-1]["realtime"]:
                break
            passing.append(n)
        best = passing[-1] if passing else 0
        if config.hold_s > config.ramp_hold_s and passing:
            best = 0
            for n in reversed(passing[-2:]):  # the best level, then one lower if it does not hold
                await crowd.resize(0)  # new sessions: none may carry backlog from an overloaded level
                await crowd.resize(n)
                confirms.append(judge(await measure(crowd.users, config.hold_s, meter), config))
                if confirms[-1]["realtime"]:
                    best = n
                    break
    finally:
        await crowd.resize(0)
    return {"levels": levels, "confirm": confirms, "max_realtime_sessions": best, "target": TARGETS[mode]}


def run(config: CapacityConfig) -> dict:
    """Ramp each mode against one server; returns the JSON-ready report."""
    check_modes(config.modes)
    if not config.sessions or config.sessions != sorted(set(config.sessions)) or config.sessions[0] < 1:
        raise HarkError(f"--sessions must be ascending positive counts, got {config.sessions}")
    if min(config.ramp_hold_s, config.hold_s) <= 0 or config.warmup_s < 0:
        raise HarkError("--ramp-hold-s and --hold-s must be > 0 and --warmup-s >= 0")
    cache = Path(config.speech_cache)
    questions = held_out_questions(config.questions, config.seed, tuple(config.synthesizers), cache)
    codec = load_client_codec(config.codec, config.kbps) if TOKENS in config.modes else None
    with measuring("capacity", config, max_sessions=config.sessions[-1] + 1) as (server, report):
        meter = stats.CpuMeter(server.pid)
        report["modes"] = {}
        for mode in config.modes:
            encoder = CachedEncoder(codec) if mode == TOKENS else None
            report["modes"][mode] = asyncio.run(ramp(server, mode, questions, encoder, config, meter))
    return report


def format_report(report: dict) -> str:
    """The terminal table: one line per measured window."""
    lines = [
        f"capacity: real-time sessions per mode; load average {report['machine']['load_average']}",
        f"{'mode':<7}{'sessions':>9}{'s':>5}{'lag p50/p95':>14}{'growth':>8}{'server':>8}{'machine':>9}"
        f"{'client':>8}  verdict",
    ]
    for mode, r in report["modes"].items():
        for level in r["levels"] + r["confirm"]:
            lag, cpu = level["lag_ms"], level["cpu"]
            verdict = "real time" if level["realtime"] else "BEHIND: " + "; ".join(level["reasons"])
            lines.append(
                f"{mode:<7}{level['sessions']:>9}{level['seconds']:>5.0f}"
                f"{stats.ms(lag['p50']) + ' / ' + stats.ms(lag['p95']):>14}"
                f"{stats.ms(level['lag_growth_ms_max']):>8}"
                f"{_cores(cpu['server_cores']):>8}{_cores(cpu['machine_busy_cores']):>9}"
                f"{_cores(cpu['client_cores']):>8}  {verdict}"
            )
        lines.append(
            f"{mode}: {r['max_realtime_sessions']} real-time sessions held "
            f"(target >= {r['target']} with the shipped model)"
        )
    if report.get("profile"):
        lines.append(format_profile(report["profile"]))
    return "\n".join(lines)


def _cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def plot(report: dict, out_dir: Path) -> list[Path]:
    """capacity.png: output lag and server CPU against sessions."""
    from app.bench.plots import capacity_figure  # matplotlib only when plotting

    return [capacity_figure(report, out_dir / "capacity.png")]
