"""`hark eval codec`: how much the codec costs in intelligibility and fidelity, on speech it never saw.

Held-out sentences (audio.codec_data.eval_sentences) are spoken by flite `rms` (the assistant's voice, seen
in training with other sentences) and flite `slt` plus espeak-ng variants (voices never seen). Each clip is
passed through the codec; pocketsphinx transcribes original and resynthesis, and the difference in word
error rate is the intelligibility cost. Mel distance and SI-SNR measure fidelity. The user side adds the
phone probe (audio/phone_probe.py): what a small classifier reads from the codes of test-split speakers,
against what it reads from their original log-mel.

The bar (issue "hear every voice"): the assistant's voice loses at most 5 WER points, the held-out voice
at most 15, and the probe on the codes is within 5 points of the probe on the log-mel.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from audio.codec_data import eval_sentences
from audio.judge import Judge, word_error_rate
from audio.phone_probe import ProbeConfig
from audio.spectral import mel_distance, si_snr
from audio.tts import Voice, synthesize

log = logging.getLogger(__name__)

# Voices judged by pocketsphinx (it is useless on espeak-ng) and voices measured for fidelity only.
JUDGED_VOICES = [Voice("flite", "rms"), Voice("flite", "slt")]
FIDELITY_VOICES = [Voice("espeak-ng", "en-029+klatt3"), Voice("espeak-ng", "en-us+f4", pitch=65)]
MAX_ASSISTANT_WER_POINTS = 5.0  # flite rms, the assistant's own voice
MAX_HELD_OUT_WER_POINTS = 15.0  # flite slt, a voice the codec never heard
MAX_PROBE_GAP_POINTS = 5.0


@dataclass
class CodecEvalConfig:
    """Settings of `hark eval codec`."""

    codec: str | None = field(default=None, metadata={"help": "checkpoint (default: the shipped codec)"})
    kbps: float = field(default=3.0, metadata={"help": "bitrate to evaluate"})
    sentences: int = field(default=50, metadata={"help": "held-out sentences per voice"})
    out: str = field(default="runs/codec-eval.json", metadata={"help": "where to write the JSON report"})
    write_metrics: bool = field(
        default=False, metadata={"help": "also store the results in the checkpoint JSON"}
    )
    jobs: int = field(default=2, metadata={"help": "worker processes"})
    probe_train: int = field(
        default=ProbeConfig.train_utterances,
        metadata={"help": "training-split utterances the phone probe learns from"},
    )
    probe_test: int = field(
        default=ProbeConfig.test_utterances,
        metadata={"help": "test-split utterances the phone probe is scored on (0: no probe)"},
    )


_worker: dict = {}


def _init_worker(codec_path: str | None, kbps: float) -> None:
    import torch

    from audio.codec import load_codec

    torch.set_num_threads(1)
    _worker["codec"] = load_codec(codec_path, kbps)
    _worker["judge"] = Judge()


def _measure(job: tuple[str, Voice, bool]) -> dict:
    """Resynthesize one sentence in one voice; transcribe both versions when `judged`."""
    text, voice, judged = job
    codec, judge = _worker["codec"], _worker["judge"]
    clip = synthesize(text, voice)
    clip = np.pad(clip, (0, -len(clip) % codec.frame_size))
    resynth = codec.decode(codec.encode(clip))
    row = {
        "voice": voice.key,
        "text": text,
        "mel": mel_distance(clip, resynth),
        "si_snr": si_snr(clip, resynth),
    }
    if judged:
        row["hyp_original"] = judge.transcribe(clip)
        row["hyp_codec"] = judge.transcribe(resynth)
    return row


def _summarise(rows: list[dict]) -> dict:
    summary = {
        "mel_distance": float(np.mean([r["mel"] for r in rows])),
        "si_snr_db": float(np.mean([r["si_snr"] for r in rows])),
    }
    if "hyp_original" in rows[0]:
        refs = [r["text"] for r in rows]
        summary["wer_original"] = word_error_rate(refs, [r["hyp_original"] for r in rows])
        summary["wer_codec"] = word_error_rate(refs, [r["hyp_codec"] for r in rows])
        summary["wer_increase_points"] = 100 * (summary["wer_codec"] - summary["wer_original"])
    return summary


def evaluate_codec(cfg: CodecEvalConfig) -> dict:
    """Run the evaluation; returns (and writes to `cfg.out`) the report."""
    texts = eval_sentences(cfg.sentences)
    jobs = [(t, v, True) for v in JUDGED_VOICES for t in texts]
    jobs += [(t, v, False) for v in FIDELITY_VOICES for t in texts[:20]]
    with ProcessPoolExecutor(cfg.jobs, initializer=_init_worker, initargs=(cfg.codec, cfg.kbps)) as pool:
        rows = list(pool.map(_measure, jobs, chunksize=4))
    per_voice = {}
    for voice in JUDGED_VOICES + FIDELITY_VOICES:
        per_voice[voice.key] = _summarise([r for r in rows if r["voice"] == voice.key])
    report = {"kbps": cfg.kbps, "sentences": len(texts), "voices": per_voice}
    if cfg.probe_test:
        from audio.codec import load_codec
        from audio.phone_probe import phone_probe_report

        probe = ProbeConfig(train_utterances=cfg.probe_train, test_utterances=cfg.probe_test)
        report["phone_probe"] = phone_probe_report(load_codec(cfg.codec, cfg.kbps), probe, cfg.jobs)
    report["bar"] = _bar(report)
    report["config"] = asdict(cfg)
    Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
    Path(cfg.out).write_text(json.dumps({**report, "rows": rows}, indent=2) + "\n")
    return report


def _bar(report: dict) -> dict:
    """Each criterion of the bar with its measurement; `passed` when all of them are met."""
    voices = report["voices"]
    checks = {
        "assistant_voice": (voices[JUDGED_VOICES[0].key]["wer_increase_points"], MAX_ASSISTANT_WER_POINTS),
        "held_out_voice": (voices[JUDGED_VOICES[1].key]["wer_increase_points"], MAX_HELD_OUT_WER_POINTS),
    }
    if "phone_probe" in report:
        checks["phone_probe_gap"] = (report["phone_probe"]["gap_points"], MAX_PROBE_GAP_POINTS)
    bar = {
        name: {"points": round(v, 2), "max": limit, "passed": v <= limit}
        for name, (v, limit) in checks.items()
    }
    return {**bar, "passed": all(c["passed"] for c in bar.values()) and "phone_probe" in report}


def format_report(report: dict) -> str:
    """A printable table of the report."""
    lines = [
        f"codec at {report['kbps']} kbps on {report['sentences']} held-out sentences",
        f"{'voice':34} {'WER orig':>9} {'WER codec':>10} {'+points':>8} {'mel dist':>9} {'SI-SNR dB':>10}",
    ]
    for key, s in report["voices"].items():
        wer = (
            f"{s['wer_original']:9.3f} {s['wer_codec']:10.3f} {s['wer_increase_points']:8.1f}"
            if "wer_original" in s
            else f"{'-':>9} {'-':>10} {'-':>8}"
        )
        lines.append(f"{key:34} {wer} {s['mel_distance']:9.3f} {s['si_snr_db']:10.2f}")
    if "phone_probe" in report:
        probe = report["phone_probe"]
        lines.append(
            f"phone probe on {probe['test_utterances']} held-out-speaker utterances "
            f"({probe['codes']['frames']} frames): codes {100 * probe['codes']['accuracy']:.1f} %, "
            f"log-mel {100 * probe['log_mel']['accuracy']:.1f} %, gap {probe['gap_points']:.1f} points"
        )
    names = {
        "assistant_voice": f"assistant voice WER increase ({JUDGED_VOICES[0].key})",
        "held_out_voice": f"held-out voice WER increase ({JUDGED_VOICES[1].key})",
        "phone_probe_gap": "phone probe gap, log-mel minus codes",
    }
    bar = report["bar"]
    for key, name in names.items():
        if key in bar:
            check = bar[key]
            verdict = "PASS" if check["passed"] else "FAIL"
            lines.append(f"bar: {name} {check['points']:.1f} <= {check['max']:g} points: {verdict}")
    lines.append(
        f"bar: {'PASS' if bar['passed'] else 'FAIL'}"
        + ("" if "phone_probe" in report else " (no phone probe run)")
    )
    return "\n".join(lines)
