"""Tests for `hark devices` and `hark doctor`, run as a user runs them: subprocesses with and without a
PulseAudio daemon, and with PortAudio missing (a stand-in `sounddevice` module that fails to load it, exactly
as the real one does on a machine without libportaudio2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.commands.doctor import codec_checkpoint_path, engine_checkpoint_path

REPO = Path(__file__).resolve().parents[2]
SETUPS = ("with_pulse", "without_pulse", "without_portaudio")


def _environments(root: Path) -> dict[str, dict[str, str]]:
    """Environment per setup; the session's PulseAudio variables are in os.environ (pulse_server fixture)."""
    without_pulse = {k: v for k, v in os.environ.items() if k != "ALSA_CONFIG_PATH"}
    without_pulse["PULSE_SERVER"] = f"unix:{root / 'nobody-listens-here'}"
    shadow = root / "shadow"
    shadow.mkdir(exist_ok=True)
    (shadow / "sounddevice.py").write_text("raise OSError('PortAudio library not found')\n")
    no_portaudio = dict(
        without_pulse, PYTHONPATH=os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")])
    )
    return {"with_pulse": dict(os.environ), "without_pulse": without_pulse, "without_portaudio": no_portaudio}


def _run_all(command: str, envs: dict[str, dict[str, str]]) -> dict[str, subprocess.CompletedProcess]:
    """Run `hark COMMAND` once per setup, concurrently (each start imports torch: seconds)."""
    procs = {
        setup: subprocess.Popen(
            [sys.executable, "-m", "app", command],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for setup, env in envs.items()
    }
    results = {}
    for setup, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        results[setup] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return results


@pytest.fixture(scope="module")
def devices_runs(pulse_server: object, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`hark devices` in every setup."""
    return _run_all("devices", _environments(tmp_path_factory.mktemp("devices")))


@pytest.fixture(scope="module")
def doctor_runs(pulse_server: object, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`hark doctor` in every setup."""
    return _run_all("doctor", _environments(tmp_path_factory.mktemp("doctor")))


@pytest.mark.parametrize("setup", SETUPS)
def test_commands_never_show_a_traceback(devices_runs: dict, doctor_runs: dict, setup: str) -> None:
    """Whatever is missing, both commands explain themselves instead of crashing."""
    for run in (devices_runs[setup], doctor_runs[setup]):
        assert "Traceback" not in run.stdout + run.stderr, run.stderr


def test_devices_lists_the_pulse_devices_with_defaults_marked(devices_runs: dict) -> None:
    """With the daemon, the table shows ALSA's pulse device and the default device marked for in and out."""
    run = devices_runs["with_pulse"]
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["index", "default", "in", "out", "rate", "name"]
    assert any("pulse (ALSA)" in line for line in lines)
    assert any("in,out" in line and "default (ALSA)" in line for line in lines)


def test_devices_without_a_sound_server_explains(devices_runs: dict) -> None:
    """Without the daemon the pulse device is gone; with no device left it says so and what to do, exit 1."""
    run = devices_runs["without_pulse"]
    assert "pulse (ALSA)" not in run.stdout
    if run.returncode == 1:
        assert "No audio devices found" in run.stdout and "hark serve" in run.stdout
    else:  # a machine with a real sound card still lists it
        assert run.returncode == 0 and run.stdout.startswith("index")


def test_devices_without_portaudio_says_what_to_install(devices_runs: dict) -> None:
    """Without PortAudio, `hark devices` exits 1 with one line naming the Debian package to install."""
    run = devices_runs["without_portaudio"]
    assert run.returncode == 1
    assert run.stderr.startswith("hark: PortAudio is not installed")
    assert "apt-get install -y libportaudio2" in run.stderr


def _line(run: subprocess.CompletedProcess, name: str) -> str:
    """The doctor's line for the check called `name`."""
    return next(line for line in run.stdout.splitlines() if line[6:].startswith(name))


def test_doctor_reports_the_daemon_but_does_not_require_it(doctor_runs: dict) -> None:
    """PulseAudio is optional: the doctor notices the daemon, and its exit code is the same without it."""
    with_pulse, without_pulse = doctor_runs["with_pulse"], doctor_runs["without_pulse"]
    assert "a daemon is running" in _line(with_pulse, "PulseAudio")
    assert "no daemon running" in _line(without_pulse, "PulseAudio")
    assert _line(with_pulse, "audio devices").startswith("ok")
    assert with_pulse.returncode == without_pulse.returncode


def test_doctor_exit_code_and_fixes_follow_the_checkpoints(doctor_runs: dict) -> None:
    """A missing checkpoint fails naming the `hark train` command that makes it; exit 1 iff a check FAILs."""
    run = doctor_runs["with_pulse"]
    for name, path, command in [
        ("codec checkpoint", codec_checkpoint_path(), "hark train codec"),
        ("engine checkpoint", engine_checkpoint_path(), "hark train engine"),
    ]:
        present = _line(run, name).startswith("ok")
        assert present == path.exists() or "official" in _line(run, name)
        assert (f"fix: {command}" in run.stdout) != present
    failed = any(line.startswith("FAIL") for line in run.stdout.splitlines())
    assert run.returncode == (1 if failed else 0)


def test_doctor_without_portaudio_fails_with_the_fix(doctor_runs: dict) -> None:
    """Missing PortAudio is a required failure whose fix names the Debian package."""
    run = doctor_runs["without_portaudio"]
    assert _line(run, "PortAudio").startswith("FAIL")
    assert "fix: apt-get install -y libportaudio2" in run.stdout
    assert run.returncode == 1
