"""`hark talk --input question.wav --output out.wav` in a real terminal (tmux), read back from the screen.

The engine is untrained, so the transcript is gibberish; what is pinned down is that the real command renders
the conversation (a user transcript line and an assistant line), the state indicator moves through the
conversation's states, q quits cleanly and the speaker's audio is written to out.wav.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from audio.wavio import read_wav
from ui.conversation import STATES

ROOT = Path(__file__).resolve().parents[2]
HARK = [sys.executable, "-m", "app"]
USER_LINE = re.compile(r"^\s*you\s+\S", re.MULTILINE)  # a user transcript turn
ASSISTANT_LINE = re.compile(r"^\s*hark\s+\S", re.MULTILINE)  # an assistant monologue turn


def _tmux(socket: str, *args: str) -> str:
    result = subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=10)
    return result.stdout


@pytest.fixture
def tmux_socket():
    """A private tmux server (its own socket), killed after the test."""
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed; run `make setup`")
    socket = f"hark-test-{uuid.uuid4().hex[:8]}"
    yield socket
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=10)


def test_talk_in_tmux_shows_the_conversation(tmux_socket, question_wav, tmp_path):
    """The screen shows the user transcript and assistant lines and several states; q exits 0; out.wav holds
    the played audio."""
    out = tmp_path / "out.wav"
    models = ["--engine", "random:tiny", "--codec", "random", "--threads", "1"]
    files = ["--input", str(question_wav), "--output", str(out), "--log-file", str(tmp_path / "talk.log")]
    command = [*HARK, "talk", *models, *files]
    # COLUMNS/LINES inherited from the test's environment would override the pane's real size.
    shell = f"cd {ROOT} && unset COLUMNS LINES && {' '.join(command)}; echo HARK-EXITED $?; sleep 30"
    _tmux(tmux_socket, "new-session", "-d", "-s", "talk", "-x", "110", "-y", "30", "sleep 60")
    # Start the app only once the pane has its final size: a resize racing its start leaves it at 80x24.
    while (
        _tmux(tmux_socket, "display", "-p", "-t", "talk", "#{pane_width}x#{pane_height}").strip() != "110x30"
    ):
        time.sleep(0.05)
    _tmux(tmux_socket, "respawn-pane", "-k", "-t", "talk", shell)
    # "thinking" can flash for under one poll here (the untrained engine answers as soon as server VAD ends
    # the turn); tests/ui/test_app.py follows every state change in-process instead.
    wanted = {"speaking", "user speaking"}
    states, screen = set(), ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        screen = _tmux(tmux_socket, "capture-pane", "-p", "-t", "talk")
        states |= {s for s in STATES if f"● {s}" in screen}
        if wanted <= states and USER_LINE.search(screen) and ASSISTANT_LINE.search(screen):
            break
        time.sleep(0.2)
    print(screen)
    assert USER_LINE.search(screen) and ASSISTANT_LINE.search(screen), f"no conversation on screen:\n{screen}"
    assert wanted <= states, f"states seen: {states}"
    assert "mic" in screen and "speaker" in screen and "latency" in screen
    _tmux(tmux_socket, "send-keys", "-t", "talk", "q")
    deadline = time.monotonic() + 20
    while "HARK-EXITED" not in screen and time.monotonic() < deadline:
        time.sleep(0.2)
        screen = _tmux(tmux_socket, "capture-pane", "-p", "-t", "talk")
    assert "HARK-EXITED 0" in screen, screen
    audio, rate = read_wav(out)
    assert rate == 24000 and len(audio) > rate  # more than a second of the speaker's timeline
