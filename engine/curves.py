"""Learning curves of training runs: held-out text-stage accuracy against training minutes and steps, read
from the runs' metrics.jsonl (the `text_accuracy` records `hark train engine` writes at each evaluation).
"""

from __future__ import annotations

import json
from pathlib import Path


def read_curve(run: str | Path) -> list[dict]:
    """The `text_accuracy` records of a run folder (or of a metrics.jsonl file), in step order.

    Raises:
        FileNotFoundError: no metrics.jsonl there.
    """
    path = Path(run)
    path = path / "metrics.jsonl" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no {path}; is {run} a `hark train engine` run folder?")
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted((r for r in records if r.get("kind") == "text_accuracy"), key=lambda r: r["step"])


def plot_curves(runs: dict[str, list[dict]], out: str | Path, skills: bool = True) -> Path:
    """Accuracy vs training minutes (left) and vs steps (right), one line per run; with `skills`, the
    first run's skills as thin lines too. Writes a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_time, by_step) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for name, curve in runs.items():
        minutes = [r["train_minutes"] for r in curve]
        steps = [r["step"] for r in curve]
        overall = [100 * r["all"] for r in curve]
        by_time.plot(minutes, overall, marker="o", linewidth=2, label=name)
        by_step.plot(steps, overall, marker="o", linewidth=2, label=name)
    if skills and runs:
        name, curve = next(iter(runs.items()))
        names = sorted(k for k in curve[-1] if k not in ("kind", "step", "all", "train_minutes"))
        for skill in names:
            values = [100 * r.get(skill, 0.0) for r in curve]
            by_time.plot([r["train_minutes"] for r in curve], values, linewidth=0.8, alpha=0.6,
                         label=f"{name}: {skill}")  # fmt: skip
    for axis, label in ((by_time, "training minutes (2 CPU cores)"), (by_step, "optimizer steps")):
        axis.set_xlabel(label)
        axis.grid(alpha=0.3)
    by_time.set_ylabel("held-out text dialogues answered exactly (%)")
    by_time.axhline(99, color="grey", linestyle=":", linewidth=1)
    by_step.axhline(99, color="grey", linestyle=":", linewidth=1)
    by_time.legend(fontsize=7, loc="lower right")
    fig.suptitle("Text stage: held-out exact-match accuracy")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
