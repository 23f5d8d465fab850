"""`hark bench NAME`: benchmarks that print a table and write their numbers as JSON (--out).

Each benchmark lives in a library module that defines `CONFIG` (its settings dataclass, whose fields
become the flags), `run(config) -> dict` (a JSON-ready report) and `format_report(report) -> str` (the
terminal table), and optionally `plot(report, out_dir) -> list[Path]` (PNG files, listed in the report).
Register one by adding a line to `BENCHMARKS`. Those modules must import torch and other heavy packages
inside their functions, since this parser imports them for `hark --help`. Everything goes to --out-dir
(default bench_out/): NAME.json (or --out) and the plots.
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path
from typing import NamedTuple

from app.config import add_dataclass_arguments, dataclass_from_arguments
from app.runtime import HarkError


class Benchmark(NamedTuple):
    """One `hark bench` entry: its name, its module, and a one-line help."""

    name: str
    module: str
    help: str


BENCHMARKS = [
    Benchmark("codec", "audio.codec_bench", "streaming codec encode+decode cost per chunk"),
    Benchmark("engine", "engine.bench", "engine step latency for 1-16 batched sessions, fp32 and bf16"),
    Benchmark("latency", "app.bench.latency", "end of speech -> first assistant sound via hark serve"),
    Benchmark("bargein", "app.bench.bargein", "user speech onset -> assistant silent, and truncation"),
    Benchmark("capacity", "app.bench.capacity", "most concurrent real-time sessions, PCM and token mode"),
]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `hark bench` with one sub-command per entry of `BENCHMARKS`."""
    parser = subparsers.add_parser(
        "bench", help="measure speed (prints a table, writes JSON)", description=__doc__
    )
    names = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for bench in BENCHMARKS:
        module = importlib.import_module(bench.module)
        sub = names.add_parser(
            bench.name,
            help=bench.help,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,  # keep the docstring's tables
        )
        add_dataclass_arguments(sub, module.CONFIG)
        sub.add_argument(
            "--out-dir", default="bench_out", help="folder for the report and plots (default: %(default)s)"
        )
        sub.add_argument("--out", default=None, help=f"JSON report path (default: OUT_DIR/{bench.name}.json)")
        sub.set_defaults(func=run, bench=bench)


def run(args: argparse.Namespace) -> int:
    """Run the chosen benchmark, print its table and write its JSON report."""
    bench: Benchmark = args.bench
    module = importlib.import_module(bench.module)
    config = dataclass_from_arguments(module.CONFIG, args)
    try:
        report = module.run(config)
    except FileNotFoundError as e:
        raise HarkError(str(e)) from e
    out_dir = Path(args.out_dir)
    out = Path(args.out) if args.out else out_dir / f"{bench.name}.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    if hasattr(module, "plot"):
        report["plots"] = [str(path) for path in module.plot(report, out_dir)]
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(module.format_report(report))
    print(f"report: {out}" + "".join(f"\nplot: {path}" for path in report.get("plots", [])))
    return 0
