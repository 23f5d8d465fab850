"""`hark bench latency`: end of the user's speech -> first assistant sound heard, per turn (PCM and tokens).

A real-time client (app/bench/client.py) speaks held-out questions into `hark serve` at microphone pace,
one session per mode, and measures per turn:

    end of speech   the ideal capture time of the question's last voiced sample (known from its audio)
    first sound     when a player fed by the arrivals would play the response's first sample louder than
                    --silence-dbfs (token mode: after the client decoded the frame)

Turn taking (--turn): `client` (default) commits and sends `response.create` right after the last
packet, as a push-to-talk client does: it measures the pipeline whatever the model's judgement. `server_vad`
leaves the turn to the server (VAD + the engine's own decision to speak): what an open-mic user feels with a
trained model (an untrained one talks over the user, so this mode needs the shipped weights).

Per-stage breakdown (ms, from each response's `hark.metrics`; approximate, and it sums to the total):
    encode   one chunk's codec encode: the server's p50 (PCM) or the client's (tokens)
    engine   engine steps until speech: the server's "end of input -> first audio"
             (`input_end_to_first_audio`, or `speech_end_to_first_audio` with server VAD) minus one decode
             and one encode, plus one engine step (the step that consumed the last input)
    decode   one chunk's decode: the server's p50 (PCM) or the client's decode of the first frame (tokens)
    rest     everything else: packetisation, transport both ways, queueing, the player, and how far into
             the response its first loud sample lies (the engine starts its answers quietly: ~150 ms on
             30 Nov, docs/performance.md), so this is not network time
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.bench import stats
from app.bench.client import TOKENS, RealtimeClient, load_client_codec, packet_samples
from app.bench.playback import first_sound
from app.bench.profile import format_profile
from app.bench.questions import Utterance, held_out_questions
from app.bench.server_process import Target, TargetConfig, check_modes, measuring
from app.protocol import ServerEvents
from app.runtime import HarkError

TARGET_P50_MS, TARGET_P95_MS = 300.0, 500.0  # shipped default model on the 2-core CPU
TURN_MODES = ("client", "server_vad")
STAGES = ("encode", "engine", "decode", "rest")


@dataclass
class LatencyConfig(TargetConfig):
    """Settings of `hark bench latency` (field names are its flags)."""

    modes: list[str] = field(
        default_factory=lambda: ["pcm", "tokens"], metadata={"help": "pcm and/or tokens"}
    )
    turns: int = field(default=50, metadata={"help": "questions per mode"})
    turn: str = field(default="client", metadata={"help": "who ends the user's turn: client or server_vad"})
    packet_ms: float = field(
        default=40.0, metadata={"help": "mic packet length (whole 13.3 ms frames for tokens)"}
    )
    gap_s: float = field(
        default=0.6, metadata={"help": "silence between a response's end and the next question"}
    )
    max_response_steps: int = field(
        default=40, metadata={"help": "max_output_tokens (53 ms steps) per response"}
    )
    turn_timeout_s: float = field(default=20.0, metadata={"help": "give up on a turn's response after this"})
    silence_dbfs: float = field(
        default=-40.0, metadata={"help": "assistant audio below this level is silence"}
    )
    seed: int = field(default=0, metadata={"help": "picks the held-out questions and voices"})
    synthesizers: list[str] = field(
        default_factory=lambda: ["espeak-ng", "flite"],
        metadata={"help": "voices of the questions (festival is slow)"},
    )
    speech_cache: str = field(default="data/cache/bench-speech", metadata={"help": "synthesized questions"})


CONFIG = LatencyConfig


def check(config: LatencyConfig) -> None:
    """Reject settings the benchmark cannot run with (HarkError naming the flag)."""
    check_modes(config.modes)
    if config.turn not in TURN_MODES:
        raise HarkError(f"--turn must be one of {list(TURN_MODES)}, got {config.turn!r}")
    if config.turns < 1 or config.packet_ms <= 0:
        raise HarkError("--turns must be >= 1 and --packet-ms > 0")


def run(config: LatencyConfig) -> dict:
    """Run every mode against one server; returns the JSON-ready report."""
    check(config)
    questions = held_out_questions(
        config.turns, config.seed, tuple(config.synthesizers), Path(config.speech_cache)
    )
    codec = load_client_codec(config.codec, config.kbps) if TOKENS in config.modes else None
    with measuring("latency", config, max_sessions=2) as (server, report):
        meter = stats.CpuMeter(server.pid)
        report["modes"] = {}
        for mode in config.modes:
            before = meter.sample()
            result = asyncio.run(_run_mode(server, mode, questions, codec, config))
            result["cpu"] = meter.between(before, meter.sample())
            report["modes"][mode] = result
    report["targets"] = {
        mode: {
            "p50_ms": TARGET_P50_MS,
            "p95_ms": TARGET_P95_MS,
            "met": bool(r["latency_ms"]["n"])
            and r["latency_ms"]["p50"] <= TARGET_P50_MS
            and r["latency_ms"]["p95"] <= TARGET_P95_MS,
        }
        for mode, r in report["modes"].items()
    }
    return report


async def _run_mode(
    server: Target, mode: str, questions: list[Utterance], codec, config: LatencyConfig
) -> dict:
    """One session that asks every question in turn; per-turn records and their summary."""
    td = None if config.turn == "client" else {"type": "server_vad", "create_response": True}
    packet = packet_samples(config.packet_ms, mode)
    turns = []
    async with server.connect(mode, td, config.max_response_steps, codec=codec, packet=packet) as client:
        await asyncio.sleep(config.gap_s)
        unprompted = len(client.events(ServerEvents.RESPONSE_CREATED))  # the user has said nothing yet
        for question in questions:
            turns.append(await _turn(client, question, config))
            await asyncio.sleep(config.gap_s)
        session = client.session.get("hark", {})
        late = stats.summary(list(client.mic.late_ms))
        codec_ms = {"encode": stats.summary(client.encode_ms), "decode": stats.summary(client.decode_ms)}
    latencies = [t.get("latency_ms") for t in turns]
    return {
        "turns": turns,
        "answered": sum(x is not None for x in latencies),
        "responses_before_user_spoke": unprompted,
        "latency_ms": stats.summary(latencies),
        "breakdown_ms": {
            s: stats.summary([t["breakdown_ms"][s] for t in turns if "breakdown_ms" in t]) for s in STAGES
        },
        "server_session": session,
        "client_mic_late_ms": late,
        "client_codec_ms": codec_ms,  # tokens mode: the client's own encode per packet, decode per frame
    }


async def _turn(client: RealtimeClient, question: Utterance, config: LatencyConfig) -> dict:
    """Ask one question; measure end of speech -> first sound of the response that answers it."""
    record: dict = {"question": question.text, "voice": question.voice, "seconds": round(question.seconds, 2)}
    start = len(client.log)
    if config.turn == "client":
        said, start = await client.ask(question.pcm)
    else:
        said = await client.speak(question.pcm)
    end = said.at(question.voiced_end)
    try:
        created = await client.wait_for(
            lambda a: a.type == ServerEvents.RESPONSE_CREATED and a.t > end, config.turn_timeout_s, start
        )
        rid = created.response_id
        metrics = await client.wait_for(
            lambda a: a.type == ServerEvents.HARK_METRICS and a.response_id == rid,
            config.turn_timeout_s,
            start,
        )
    except TimeoutError:
        record["error"] = f"no response within {config.turn_timeout_s:g} s"
        await client.send("response.cancel")  # a late response must not answer the next question
        return record
    done = client.events(ServerEvents.RESPONSE_DONE, rid)[-1].event["response"]
    record.update(
        response_id=rid, status=done["status"], reason=(done.get("status_details") or {}).get("reason")
    )
    chunks = client.audio(rid)
    heard = first_sound(chunks, 10 ** (config.silence_dbfs / 20)) if chunks else None
    if heard is None:
        record["error"] = "the response had no audio above the silence level"
        return record
    record["latency_ms"] = round(1000 * (heard - end), 1)
    first = next(a for a in client.log[start:] if a.chunk is not None and a.response_id == rid)
    record["first_audio_arrival_ms"] = round(1000 * (first.t - end), 1)  # before decode and playback
    record["server"] = {k: metrics.event[k] for k in ("latency_ms", "stages_ms", "steps")}
    decode_first = 1000 * (first.chunk.t - first.t) if client.mode == TOKENS else None
    record["breakdown_ms"] = breakdown(
        record["latency_ms"], metrics.event, config.turn, client.mode, _recent(client.encode_ms), decode_first
    )
    return record


def _recent(values: list[float], n: int = 20) -> float | None:
    return float(np.median(values[-n:])) if values else None


def breakdown(
    latency_ms: float,
    metrics: dict,
    turn: str,
    mode: str,
    client_encode_ms: float | None = None,
    client_decode_ms: float | None = None,
) -> dict:
    """Split one turn's latency into encode / engine / decode / rest (see the module docstring)."""
    stages = {name: v["p50"] for name, v in metrics.get("stages_ms", {}).items()}
    server_encode = stages.get("encode", stages.get("analyse", 0.0))
    server_decode = stages.get("decode", 0.0)
    key = "input_end_to_first_audio" if turn == "client" else "speech_end_to_first_audio"
    server_ms = metrics["latency_ms"].get(key) or metrics["latency_ms"].get("request_to_first_audio") or 0.0
    engine = server_ms - server_decode - server_encode + stages.get("engine", 0.0)
    if mode == TOKENS:
        encode, decode = client_encode_ms or 0.0, client_decode_ms or 0.0
    else:
        encode, decode = server_encode, server_decode
    parts = {"encode": encode, "engine": max(0.0, engine), "decode": decode}
    parts["rest"] = latency_ms - sum(parts.values())
    return {k: round(v, 1) for k, v in parts.items()}


def format_report(report: dict) -> str:
    """The terminal table: latency percentiles and the median breakdown per mode."""
    s = report["settings"]
    lines = [
        f"latency: end of speech -> first sound, turn={s['turn']}, engine {s['engine'] or 'default'}, "
        f"codec {s['codec'] or 'default'}; load average {report['machine']['load_average']}",
        f"{'mode':<8}{'turns':>7}{'p50':>8}{'p95':>8}{'max':>8}  | median encode / engine / decode / rest"
        "  | server CPU | responses before the user spoke",
    ]
    for mode, r in report["modes"].items():
        lat, b = r["latency_ms"], r["breakdown_ms"]
        parts = " / ".join(stats.ms(b[x]["p50"]) for x in STAGES)
        lines.append(
            f"{mode:<8}{r['answered']:>3}/{len(r['turns']):<3}{stats.ms(lat['p50']):>8}{stats.ms(lat['p95']):>8}"
            f"{stats.ms(lat['max']):>8}  | {parts}  | {r['cpu']['server_cores']} cores"
            f"  | {r['responses_before_user_spoke']} unprompted"
        )
    lines.append(f"targets (shipped model): p50 <= {TARGET_P50_MS:g} ms, p95 <= {TARGET_P95_MS:g} ms")
    if report.get("profile"):
        lines.append(format_profile(report["profile"]))
    return "\n".join(lines)


def plot(report: dict, out_dir: Path) -> list[Path]:
    """latency.png: histograms per mode and the median breakdown."""
    from app.bench.plots import latency_figure  # matplotlib only when plotting

    return [latency_figure(report, out_dir / "latency.png")]
