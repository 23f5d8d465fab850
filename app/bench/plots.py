"""PNG plots of the benchmark reports (matplotlib, headless Agg backend).

Each function takes a report dict exactly as written to JSON, so plots can be redrawn from saved reports.
"""

from __future__ import annotations

from pathlib import Path

COLORS = {"pcm": "tab:blue", "tokens": "tab:orange"}


def _pyplot():
    import matplotlib  # heavy; only when plotting

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    fig.clf()
    return path


def _histogram(
    ax, series: dict[str, list[float]], xlabel: str, targets: dict[str, float], by_mode: bool = True
) -> None:
    """Overlaid histograms with their medians (dotted) and the target lines (dashed); colours by mode
    (the series name's first word) or, without `by_mode`, matplotlib's colour cycle."""
    values = [v for vs in series.values() for v in vs]
    bins = 20 if values else 1
    if values:
        low, high = min(values), max(values)
        bins = [low + (high - low + 1e-9) * i / 20 for i in range(21)]
    for i, (name, vs) in enumerate(series.items()):
        if vs:
            color = COLORS.get(name.split()[0]) if by_mode else f"C{i}"
            ax.hist(vs, bins=bins, alpha=0.55, label=f"{name} (n={len(vs)})", color=color)
            ax.axvline(sorted(vs)[len(vs) // 2], color=color, linestyle=":", linewidth=1.2)
    for label, x in targets.items():
        ax.axvline(x, color="black", linestyle="--", linewidth=1)
        ax.text(x, ax.get_ylim()[1] * 0.95, f" {label}", fontsize=8, va="top")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("turns")
    if values:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no measurements", transform=ax.transAxes, ha="center")


def latency_figure(report: dict, path: Path) -> Path:
    """Histogram of end-of-speech -> first-sound latency per mode, and the median stage breakdown."""
    plt = _pyplot()
    fig, (hist, bars) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [2, 1]})
    modes = report["modes"]
    series = {
        m: [t["latency_ms"] for t in r["turns"] if t.get("latency_ms") is not None] for m, r in modes.items()
    }
    _histogram(
        hist, series, "end of speech -> first assistant sound (ms)", {"p50 target": 300, "p95 target": 500}
    )
    hist.set_title(f"response latency, turn={report['settings']['turn']}")
    bottom = [0.0] * len(modes)
    for stage in next(iter(modes.values()))["breakdown_ms"]:  # the stages, in the order latency.py sums them
        heights = [r["breakdown_ms"][stage]["p50"] or 0.0 for r in modes.values()]
        bars.bar(list(modes), heights, bottom=bottom, label=stage)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    bars.set_ylabel("median ms per stage")
    bars.set_title("where the time goes")
    bars.legend(fontsize=8)
    return _save(fig, path)


def bargein_figure(report: dict, path: Path) -> Path:
    """Histograms of speech onset -> last assistant audio received, -> the end of its playback (a client
    that does not flush), and -> response.done (cancelled)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    series = {}
    for mode, r in report["modes"].items():
        cut = [t for t in r["turns"] if t.get("interrupted")]
        series[f"{mode} onset -> last audio"] = [t["onset_to_last_audio_ms"] for t in cut]
        series[f"{mode} onset -> playback end"] = [t["onset_to_playback_end_ms"] for t in cut]
        series[f"{mode} onset -> response.done"] = [t["onset_to_done_ms"] for t in cut]
    _histogram(ax, series, "ms after the user's speech onset", {"p95 target": 150}, by_mode=False)
    ax.set_title("barge-in: how fast the assistant goes quiet")
    return _save(fig, path)


def capacity_figure(report: dict, path: Path) -> Path:
    """Output lag (p95) and server CPU against concurrent sessions, per mode; failed levels crossed."""
    plt = _pyplot()
    fig, lag = plt.subplots(figsize=(8, 4.5))
    cpu = lag.twinx()
    for mode, r in report["modes"].items():
        levels = r["levels"]
        x = [lv["sessions"] for lv in levels]
        color = COLORS.get(mode)
        lag.plot(x, [lv["lag_ms"]["p95"] for lv in levels], "o-", color=color, label=f"{mode} lag p95")
        bad = [lv for lv in levels + r["confirm"] if not lv["realtime"]]
        lag.plot([lv["sessions"] for lv in bad], [lv["lag_ms"]["p95"] for lv in bad], "x", color="red", ms=10)
        held = r["confirm"]
        if held:
            y = [lv["lag_ms"]["p95"] for lv in held]
            lag.plot(
                [lv["sessions"] for lv in held],
                y,
                "o",
                mfc="none",
                color=color,
                ms=13,
                label=f"{mode} long hold",
            )
        cores = [lv["cpu"]["server_cores"] for lv in levels]
        if all(c is not None for c in cores):
            cpu.plot(x, cores, "s--", color=color, alpha=0.6, label=f"{mode} server CPU")
    lag.axhline(report["settings"]["max_lag_ms"], color="black", linestyle="--", linewidth=1)
    lag.xaxis.get_major_locator().set_params(integer=True)
    lag.set_ylim(bottom=min(0.0, lag.get_ylim()[0]))
    cpu.set_ylim(0, report["machine"]["cpus"] or None)
    lag.set_xlabel("concurrent real-time sessions")
    lag.set_ylabel("output lag p95 (ms; x = fell behind)")
    cpu.set_ylabel("server CPU (cores)")
    lines = lag.get_legend_handles_labels()
    more = cpu.get_legend_handles_labels()
    lag.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="best")
    lag.set_title("capacity")
    return _save(fig, path)
