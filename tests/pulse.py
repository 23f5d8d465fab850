"""A private PulseAudio daemon for the tests: real, paced sound devices on a machine without a sound card.

The daemon has one `module-null-sink`; its monitor is the default source, so whatever a test plays to the
default output comes back on the default input (a speaker -> microphone loopback). Everything lives in a
temporary directory: the daemon's HOME and runtime dir, its socket, and an ALSA configuration that routes
ALSA's `default` device (which PortAudio uses) to that socket. Only this process's environment (and that of
subprocesses started with `os.environ`) points at it; the machine's own audio setup is left alone.

Running as root works as long as the daemon gets its own HOME/XDG_RUNTIME_DIR (it warns, but runs).

A null sink with no client requesting a latency sleeps in 2 s blocks, so a new stream would wait ~2 s for its
first callback. A `pacat` client playing silence at 10 ms latency keeps the sink ticking for the session; the
fixture waits once until the monitor delivers (about 2 s), and streams then start within a block or two.
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

NULL_SINK = "hark_null"
SINK_RATE = 24000  # the sink runs at hark's rate, so nothing between our streams resamples
SYSTEM_ALSA_CONF = Path("/usr/share/alsa/alsa.conf")
STARTUP_TIMEOUT_S = 10.0
INSTALL_HINT = "run `make setup` (it installs pulseaudio, pulseaudio-utils and libasound2-plugins)"


@dataclass
class PulseServer:
    """A running daemon: `env` holds the variables that point a client (and its ALSA) at it."""

    socket: Path
    env: dict[str, str]
    log: Path


def _write_config(root: Path, sock: Path) -> tuple[Path, Path]:
    """Write the daemon's startup script and the ALSA configuration; returns their paths."""
    script = root / "daemon.pa"
    script.write_text(
        f"load-module module-null-sink sink_name={NULL_SINK} rate={SINK_RATE} channels=1\n"
        f"load-module module-native-protocol-unix socket={sock} auth-anonymous=1\n"
        f"set-default-sink {NULL_SINK}\n"
        f"set-default-source {NULL_SINK}.monitor\n"
    )
    alsa = root / "asound.conf"
    # ALSA_CONFIG_PATH replaces ALSA's top-level file, so include the system one, then override `default`.
    alsa.write_text(
        f"<{SYSTEM_ALSA_CONF}>\n"
        f'pcm.!default {{ type pulse server "unix:{sock}" hint {{ description "hark test null sink" }} }}\n'
        f'ctl.!default {{ type pulse server "unix:{sock}" }}\n'
    )
    return script, alsa


def _pacat(direction: str, env: dict[str, str], **popen: object) -> subprocess.Popen:
    """Start a raw 24 kHz mono `pacat` client (`direction` is "--playback" or "--record") at 10 ms latency."""
    command = ["pacat", direction, "--raw", f"--rate={SINK_RATE}", "--channels=1", "--format=s16le"]
    return subprocess.Popen([*command, "--latency-msec=10"], env=env, stderr=subprocess.DEVNULL, **popen)


def _keep_sink_ticking(env: dict[str, str]) -> subprocess.Popen:
    """Play silence into the null sink for the session and wait until its monitor delivers samples."""
    with open("/dev/zero", "rb") as zeros:
        keeper = _pacat("--playback", env, stdin=zeros)
    probe = _pacat("--record", env, stdout=subprocess.PIPE)
    try:
        ready, _, _ = select.select([probe.stdout], [], [], STARTUP_TIMEOUT_S)  # the sink's first tick
    finally:
        _stop(probe)
    if not ready:
        _stop(keeper)
        pytest.fail(f"the PulseAudio null sink delivered nothing on its monitor within {STARTUP_TIMEOUT_S} s")
    return keeper


def _stop(process: subprocess.Popen) -> None:
    """Terminate a child process we started, killing it if it does not exit promptly."""
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_until_listening(sock: Path, process: subprocess.Popen, log: Path) -> None:
    """Block until the daemon accepts connections on `sock`; fail the test session if it dies or hangs."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"pulseaudio exited with code {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(sock))
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"pulseaudio did not open {sock} within {STARTUP_TIMEOUT_S} s: {log.read_text()[-2000:]}")


@contextmanager
def running_pulseaudio(root: Path) -> Iterator[PulseServer]:
    """Start a null-sink PulseAudio daemon whose files all live under `root`; stop it on exit."""
    for program in ("pulseaudio", "pacat"):
        if shutil.which(program) is None:
            pytest.fail(f"{program} is not installed; {INSTALL_HINT}")
    if not SYSTEM_ALSA_CONF.exists():
        pytest.fail(f"{SYSTEM_ALSA_CONF} is missing (ALSA is not installed); {INSTALL_HINT}")
    runtime = root / "run"
    runtime.mkdir(mode=0o700)
    sock = root / "native"
    script, alsa = _write_config(root, sock)
    daemon_env = dict(os.environ, HOME=str(root), XDG_RUNTIME_DIR=str(runtime), XDG_CONFIG_HOME=str(root))
    daemon_env["PULSE_RUNTIME_PATH"] = str(runtime / "pulse")
    command = ["pulseaudio", "-n", "-F", str(script), "--daemonize=no", "--exit-idle-time=-1"]
    command += ["--use-pid-file=no", "--log-target=stderr", "--log-level=notice"]
    log = root / "pulseaudio.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(command, env=daemon_env, stdout=log_file, stderr=subprocess.STDOUT)
    client_env = {"PULSE_SERVER": f"unix:{sock}", "ALSA_CONFIG_PATH": str(alsa)}
    try:
        _wait_until_listening(sock, process, log)
        keeper = _keep_sink_ticking(dict(os.environ, **client_env))
        try:
            yield PulseServer(sock, client_env, log)
        finally:
            _stop(keeper)
    finally:
        _stop(process)


def reinitialize_portaudio() -> None:
    """Make PortAudio enumerate devices again (it reads ALSA's configuration only when initialised)."""
    import sounddevice as sd

    sd._terminate()
    sd._initialize()


@pytest.fixture(scope="session")
def pulse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    """A PulseAudio null-sink daemon for the whole session, with this process's PortAudio pointed at it."""
    with running_pulseaudio(tmp_path_factory.mktemp("pulse")) as server:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in server.env.items():
                patch.setenv(name, value)
            reinitialize_portaudio()
            yield server
        reinitialize_portaudio()
