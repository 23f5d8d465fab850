"""`hark eval codec|engine`: measure hark's models on held-out data (JSON report + a printed table).

hark eval codec --codec assets/codec                 # intelligibility/fidelity cost of the codec
hark eval engine --dialogues 40                      # held-out spoken questions, per skill
hark eval engine --stage text --dialogues 500        # the text stage's held-out text dialogues
hark eval curve runs/text                            # a run's learning curve as a PNG
"""

from __future__ import annotations

import argparse

from app.cli import HarkError
from app.config import add_dataclass_arguments, dataclass_from_arguments


def _eval_codec(args: argparse.Namespace) -> int:
    from audio.codec_eval import CodecEvalConfig, evaluate_codec, format_report

    cfg = dataclass_from_arguments(CodecEvalConfig, args)
    try:
        report = evaluate_codec(cfg)
    except FileNotFoundError as e:
        raise HarkError(str(e)) from e
    print(format_report(report))
    print(f"report: {cfg.out}")
    if cfg.write_metrics:
        from audio.codec_checkpoint import default_checkpoint_path, write_metrics

        target = cfg.codec or default_checkpoint_path()
        write_metrics(target, {f"eval_{cfg.kbps:g}kbps": report})
        print(f"metrics written into {target}")
    return 0 if report["bar"]["passed"] else 1


def _eval_text_stage(cfg) -> int:  # noqa: ANN001 - engine.eval.config.EvalConfig, imported lazily
    from engine.eval.harness import load_eval_engine
    from engine.eval.text_stage import evaluate_text_stage, format_text_report

    out = cfg.out if cfg.out != "runs/eval_engine.json" else "runs/eval_text_stage.json"
    try:
        engine = load_eval_engine(cfg)
    except FileNotFoundError as e:
        raise HarkError(str(e)) from e
    report = evaluate_text_stage(engine.model, engine.tokenizer, cfg.dialogues, cfg.seed, out)
    print(format_text_report(report))
    print(f"report: {out}")
    if cfg.write_metrics:
        from engine.weights import DEFAULT_DIR, write_metrics

        target = DEFAULT_DIR if cfg.engine == "default" else cfg.engine
        write_metrics(target, {"eval_text_stage": {k: v for k, v in report.items() if k != "wrong"}})
        print(f"metrics written into {target}")
    return 0


def _eval_curve(args: argparse.Namespace) -> int:
    from engine.curves import plot_curves, read_curve

    try:
        curves = {str(run): read_curve(run) for run in args.runs}
    except FileNotFoundError as e:
        raise HarkError(str(e)) from e
    for run, curve in curves.items():
        points = ", ".join(f"{r['train_minutes']:.0f} min {100 * r['all']:.1f} %" for r in curve)
        print(f"{run}: {points or 'no text-stage evaluations yet'}")
    print(f"plot: {plot_curves(curves, args.out)}")
    return 0


def _eval_engine(args: argparse.Namespace) -> int:
    from engine.eval.config import EvalConfig
    from engine.eval.harness import evaluate
    from engine.eval.score import format_table

    cfg = dataclass_from_arguments(EvalConfig, args)
    if cfg.stage == "text":
        return _eval_text_stage(cfg)
    if cfg.stage != "dialogue":
        raise HarkError(f"--stage must be dialogue or text, not {cfg.stage!r}")
    try:
        result = evaluate(cfg)
    except FileNotFoundError as e:
        raise HarkError(str(e)) from e
    print("engine")
    print(format_table(result["engine"]))
    print("\nreference answers (the judge's ceiling)")
    print(format_table(result["reference"]))
    print(f"report: {cfg.out}")
    if cfg.write_metrics:
        from engine.weights import DEFAULT_DIR, write_metrics

        target = DEFAULT_DIR if cfg.engine == "default" else cfg.engine
        summary = {k: v for k, v in result["engine"].items() if k != "turn_details"}
        run = {"dialogues": cfg.dialogues, "seed": cfg.seed, "request_answer_ms": cfg.request_answer_ms}
        key = "eval_engine" if cfg.split == "test" else f"eval_engine_{cfg.split}"  # the bar is on test
        if cfg.voices not in ("", cfg.split):
            key += f"_{cfg.voices}_voices"
        write_metrics(target, {key: {**summary, **run}})
        print(f"metrics written into {target}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `hark eval` and its targets."""
    from audio.codec_eval import CodecEvalConfig
    from engine.eval.config import EvalConfig  # light: no torch at import time

    parser = subparsers.add_parser("eval", help="evaluate the codec or the engine", description=__doc__)
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    codec = targets.add_parser("codec", help="intelligibility and fidelity cost of the codec")
    add_dataclass_arguments(codec, CodecEvalConfig)
    codec.set_defaults(func=_eval_codec)
    engine = targets.add_parser(
        "engine",
        help="held-out spoken dialogues through codec -> engine -> codec: accuracy and latency per skill",
    )
    add_dataclass_arguments(engine, EvalConfig)
    engine.set_defaults(func=_eval_engine)
    curve = targets.add_parser(
        "curve", help="plot training runs' held-out text-stage accuracy against minutes and steps (PNG)"
    )
    curve.add_argument("runs", nargs="+", metavar="RUN", help="run folders of `hark train engine`")
    curve.add_argument("--out", default="runs/text_stage_curve.png", help="PNG to write")
    curve.set_defaults(func=_eval_curve)
