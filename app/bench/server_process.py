"""The service a benchmark talks to: a `hark serve` subprocess on a free loopback port, or an existing URL.

`target(config)` starts `python -m app serve --port 0 ...` with the benchmark's engine/codec flags, waits
for its "listening on ws://..." line, yields the URL and the server's process id (for CPU accounting and,
with --profile, py-spy), and stops it with SIGINT (the service's clean shutdown), then SIGKILL if it hangs.
With `--url` it yields that URL instead and starts nothing (the pid is then unknown: no server CPU figures).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import websockets

from app.bench.client import MODES, CodecMismatch, RealtimeClient
from app.bench.profile import Profiler
from app.bench.stats import machine_info
from app.runtime import HarkError
from engine.model_spec import CODEC_SPEC_HELP, ENGINE_SPEC_HELP

START_TIMEOUT_S = 180.0  # loading the default models on a busy 2-core machine
STOP_TIMEOUT_S = 20.0
_LISTENING = re.compile(r"listening on (ws://\S+)")


class ServerStartError(RuntimeError):
    """`hark serve` exited or did not listen in time (the message has its last log lines)."""


@dataclass
class TargetConfig:
    """Which service a benchmark measures (shared by the latency, barge-in and capacity benchmarks)."""

    url: str = field(
        default="", metadata={"help": "measure this running server (ws://HOST:PORT/v1/realtime) instead"}
    )
    engine: str = field(default="", metadata={"help": f"of the started server; {ENGINE_SPEC_HELP}"})
    codec: str = field(
        default="", metadata={"help": f"of the started server and of token-mode clients; {CODEC_SPEC_HELP}"}
    )
    kbps: float = field(default=3.0, metadata={"help": "codec bitrate"})
    threads: int = field(default=0, metadata={"help": "torch threads of the started server (0: its default)"})
    serve_flags: str = field(
        default="", metadata={"help": "more flags for the started server, e.g. '--batch-window-ms 0'"}
    )
    api_key: str = field(default="", metadata={"help": "key for --url servers that require one"})
    profile: str = field(
        default="",
        metadata={"help": "py-spy the started server into this folded-stacks file (summary in the report)"},
    )


@dataclass
class Target:
    """A reachable service: its websocket URL, its process id when this run started it, and its profiler."""

    url: str
    pid: int | None
    api_key: str = ""
    profiler: Profiler | None = None

    def profile(self) -> dict | None:
        """The profile summary (after the server stopped), if it was profiled."""
        return self.profiler.summary() if self.profiler else None

    def connect(self, mode: str, turn_detection: dict | None, max_output_tokens: int | None, **kwargs: Any):
        """`RealtimeClient.connect` to this service (async context manager)."""
        return RealtimeClient.connect(
            self.url, mode, turn_detection, max_output_tokens, self.api_key, **kwargs
        )


class ServerProcess:
    """A `hark serve` child process on 127.0.0.1 with port 0.

    Args:
        args: extra `hark serve` flags (engine, codec, limits).
    """

    def __init__(self, args: list[str]):
        self.args = args
        self.proc: subprocess.Popen | None = None
        self.output: deque[str] = deque(maxlen=200)  # recent log lines, for error messages
        self.url = ""

    def start(self) -> str:
        """Start the server and wait until it listens; returns its URL.

        Raises:
            ServerStartError: it exited or did not listen within START_TIMEOUT_S.
        """
        cmd = [sys.executable, "-m", "app", "--log-level", "WARNING", "serve", "--port", "0", *self.args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        ready = threading.Event()
        threading.Thread(target=self._drain, args=(ready,), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = "\n".join(self.output)
                raise ServerStartError(f"`hark {' '.join(cmd[5:])}` did not start:\n{tail}")
        return self.url

    def _drain(self, ready: threading.Event) -> None:
        """Read the server's output (so its pipe never fills) and spot the listening line."""
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line.rstrip())
            match = _LISTENING.search(line)
            if match and not ready.is_set():
                self.url = match.group(1)
                ready.set()

    def stop(self) -> int | None:
        """SIGINT (clean shutdown), SIGKILL after STOP_TIMEOUT_S; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def serve_args(config: TargetConfig, max_sessions: int = 8) -> list[str]:
    """The `hark serve` flags for `config`."""
    args = ["--max-sessions", str(max_sessions)]
    for flag, value in (("--engine", config.engine), ("--codec", config.codec)):
        if value:
            args += [flag, value]
    args += ["--kbps", str(config.kbps)]
    if config.threads:
        args += ["--threads", str(config.threads)]
    return args + shlex.split(config.serve_flags)


def check_modes(modes: list[str]) -> None:
    """--modes must name pcm and/or tokens (HarkError otherwise)."""
    if not modes or any(m not in MODES for m in modes):
        raise HarkError(f"--modes must be some of {list(MODES)}, got {modes}")


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn a server that does not start or cannot be reached, or a client codec that does not match it,
    into a HarkError."""
    try:
        yield
    except (ServerStartError, CodecMismatch) as e:
        raise HarkError(str(e)) from e
    except (ConnectionError, websockets.InvalidURI, websockets.InvalidHandshake) as e:
        raise HarkError(f"lost or could not reach the server: {e}") from e


@contextlib.contextmanager
def target(config: TargetConfig, max_sessions: int = 8) -> Iterator[Target]:
    """The service to measure: `config.url`, or a fresh `hark serve` stopped on exit."""
    if config.url:
        if config.profile:
            raise HarkError("--profile samples a server the benchmark starts itself: drop --url")
        yield Target(config.url, None, config.api_key)
        return
    server = ServerProcess(serve_args(config, max_sessions))
    url = server.start()
    found = Target(url, server.proc.pid)
    try:
        if config.profile:
            found.profiler = Profiler(server.proc.pid, config.profile)
        yield found
    finally:
        if found.profiler:
            found.profiler.stop()
        server.stop()


@contextlib.contextmanager
def measuring(name: str, config: TargetConfig, max_sessions: int) -> Iterator[tuple[Target, dict]]:
    """The service (as `target`) and a report that records the machine, the settings, the load at the end
    and the server's profile; user-fixable failures become HarkError (`user_errors`)."""
    report: dict = {"benchmark": name, "machine": machine_info(), "settings": asdict(config)}
    with user_errors(), target(config, max_sessions) as server:
        report["server"] = {"url": server.url, "started_here": server.pid is not None}
        yield server, report
    report["load_average_end"] = machine_info()["load_average"]
    report["profile"] = server.profile()
