"""Where the server's time goes: py-spy samples of the `hark serve` process, summed by pipeline stage.

`Profiler` runs `py-spy record --format raw` on the server for the length of a benchmark (the flag
`--profile FILE` of the latency, barge-in and capacity benchmarks). py-spy writes folded stacks, one line
per distinct stack: `thread (TID): NAME;frame;frame;... COUNT`, frames as `function (file:line)`, idle
threads left out. `summarise` drops the stacks that only wait (a leaf in selectors/threading/queue, which
py-spy's idle test lets through), assigns each other stack to the first stage whose marker appears in it,
and reports each stage's share of the busy samples and its cores (samples / rate / seconds), plus the
hottest leaf functions (where the CPU actually is, not who called it).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from app.runtime import HarkError

RATE_HZ = 100
# (stage, markers): a stack belongs to the first stage with a marker in any frame or the thread name.
STAGES = [
    ("codec encode", ("StreamingEncoder.encode",)),
    ("codec decode", ("StreamingDecoder.decode",)),
    ("vad", ("audio/vad.py", "silero")),
    ("engine", ("engine/", "engine-scheduler")),
    (
        "protocol (json, base64, websockets)",
        ("websockets/", "json/", "base64", "app/protocol.py", "app/events.py"),
    ),
    ("event loop, other python", ("asyncio/", "app/")),
]
OTHER = "other"
WAITS = ("selectors.py", "threading.py", "queue.py")  # leaves that wait (py-spy's idle test misses some)
_LINE = re.compile(r":\d+\)$")


def py_spy() -> str:
    """Path of the py-spy executable (next to this Python, or on PATH).

    Raises:
        HarkError: it is not installed.
    """
    local = Path(sys.executable).with_name("py-spy")
    found = str(local) if local.exists() else shutil.which("py-spy")
    if not found:
        raise HarkError(
            "--profile needs py-spy: pip install -e .[dev] (or pip install py-spy into hark's .venv)"
        )
    return found


class Profiler:
    """py-spy sampling one process into a folded-stacks file until `stop()`.

    Args:
        pid: the process to sample (a `hark serve` started by the benchmark).
        path: where the folded stacks go.
    """

    def __init__(self, pid: int, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [py_spy(), "record", "--pid", str(pid), "--format", "raw", "--output", str(self.path)]
        cmd += ["--rate", str(RATE_HZ), "--nonblocking", "--threads"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.started = time.monotonic()
        self.seconds = 0.0

    def stop(self) -> None:
        """Stop sampling (SIGINT makes py-spy write its file) and wait for it."""
        self.seconds = time.monotonic() - self.started
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            output, _ = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            output, _ = self.proc.communicate()
        if not self.path.exists():
            raise HarkError(f"py-spy wrote no profile (is ptrace allowed here?):\n{output[-500:]}")

    def summary(self) -> dict:
        """`summarise` of the recorded file over the recorded time."""
        return summarise(self.path, self.seconds)


def stage_of(stack: str) -> str:
    """The pipeline stage a folded stack belongs to."""
    for stage, markers in STAGES:
        if any(marker in stack for marker in markers):
            return stage
    return OTHER


def summarise(path: Path, seconds: float, top: int = 12) -> dict:
    """Busy samples per stage (share and cores) and the hottest leaf functions of a folded-stacks file."""
    stages: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    waiting = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        if any(marker in leaf for marker in WAITS):
            waiting += int(count)
            continue
        stages[stage_of(stack)] += int(count)
        leaves[_LINE.sub(")", leaf)] += int(count)  # by function, all its lines together
    total = sum(stages.values()) or 1
    per_core = RATE_HZ * max(seconds, 1e-9)
    return {
        "file": str(path),
        "seconds": round(seconds, 1),
        "waiting_samples": waiting,
        "busy_samples": sum(stages.values()),
        "busy_cores": round(sum(stages.values()) / per_core, 2),
        "stages": {
            name: {"share": round(n / total, 3), "cores": round(n / per_core, 3)}
            for name, n in stages.most_common()
        },
        "top_functions": [{"function": f, "share": round(n / total, 3)} for f, n in leaves.most_common(top)],
    }


def format_profile(summary: dict) -> str:
    """A few lines for the terminal."""
    lines = [
        f"profile ({summary['file']}): server busy {summary['busy_cores']} cores over {summary['seconds']} s"
    ]
    lines += [
        f"  {name:<38}{s['share']:>6.1%}  {s['cores']:.2f} cores" for name, s in summary["stages"].items()
    ]
    return "\n".join(lines)
