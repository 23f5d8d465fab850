"""`hark talk` fails early and readably: no device, an unknown device name, a missing model.

Run as subprocesses whose environment hides the test PulseAudio daemon unless a test asks for it, so that
"no device" really means PortAudio sees none.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PULSE_VARIABLES = ("PULSE_SERVER", "ALSA_CONFIG_PATH")


def _talk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in PULSE_VARIABLES}
    return subprocess.run(
        [sys.executable, "-m", "app", "talk", *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_no_device_says_so_and_offers_files_and_serve(tmp_path):
    """Without audio devices: exit 1, one line naming the missing input device, `--input FILE` and
    `hark serve`; no PortAudio traceback."""
    result = _talk("--log-file", str(tmp_path / "log"))
    assert result.returncode == 1
    assert "no audio input device was found" in result.stderr
    assert "--input FILE" in result.stderr and "hark serve" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_unknown_device_name_lists_the_devices(pulse_server, tmp_path):
    """An input device name that matches nothing: exit 1 and the message lists the devices there are."""
    result = _talk(
        "--input-device", "no-such-microphone", "--log-file", str(tmp_path / "log"), env=pulse_server.env
    )
    assert result.returncode == 1
    assert "'no-such-microphone' matches no input device" in result.stderr
    assert "[0]" in result.stderr  # the list of devices
    assert "Traceback" not in result.stderr


def test_missing_model_names_the_file(question_wav, tmp_path):
    """A missing engine checkpoint: exit 1, the message names the folder (and how to get one)."""
    missing = tmp_path / "no-engine-here"
    args = ["--input", str(question_wav), "--output", str(tmp_path / "out.wav"), "--engine", str(missing)]
    result = _talk(*args, "--codec", "random", "--log-file", str(tmp_path / "log"))
    assert result.returncode == 1
    assert str(missing) in result.stderr and "hark train" in result.stderr
    assert "Traceback" not in result.stderr
