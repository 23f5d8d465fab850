"""`hark bench bargein`: how fast the assistant goes quiet when the user talks over it, and what it keeps.

Each turn, a real-time client (app/bench/client.py) asks a held-out question and sends `response.create`;
once the response's first sound has played, and server VAD has closed the question's speech
(`speech_stopped`, else the interruption would only continue it), the user waits a random time
(--interrupt-after-ms, uniform) and starts another held-out utterance over the response. Server VAD
(`interrupt_response`, no automatic responses) must cancel the response. Measured from the ideal capture
time of the interruption's first voiced sample (its onset):

    onset -> last audio     arrival of the response's last audio message (after it, the player is silent)
    onset -> done           arrival of `response.done` (status cancelled, reason turn_detected)
    onset -> speech_started when a player that flushes on `input_audio_buffer.speech_started` goes quiet
    onset -> playback end   when a player that plays out everything it received goes quiet

Truncation check: the client's simulated player (app/bench/playback.py) plays the audio as it arrives and
stops when `input_audio_buffer.speech_started` arrives (what a Realtime client does); the client then sends
`conversation.item.truncate` with the milliseconds played, and the server's `conversation.item.truncated`
must confirm exactly that `audio_end_ms`, no more than was received. Token mode is available, but its
server VAD listens to the engine's own transcript, which means nothing until trained weights ship.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.bench import stats
from app.bench.client import TOKENS, Arrival, RealtimeClient, Said, load_client_codec, packet_samples
from app.bench.playback import SAMPLE_RATE, first_sound, played_samples, start_times
from app.bench.profile import format_profile
from app.bench.questions import Utterance, held_out_questions
from app.bench.server_process import Target, TargetConfig, check_modes, measuring
from app.protocol import ServerEvents
from app.runtime import HarkError

TARGET_P95_MS = 150.0  # onset -> silence, p95
VAD = {"type": "server_vad", "create_response": False, "interrupt_response": True}


@dataclass
class BargeinConfig(TargetConfig):
    """Settings of `hark bench bargein` (field names are its flags)."""

    modes: list[str] = field(default_factory=lambda: ["pcm"], metadata={"help": "pcm and/or tokens"})
    turns: int = field(default=30, metadata={"help": "interrupted responses per mode"})
    interrupt_after_ms: list[float] = field(
        default_factory=lambda: [200.0, 1500.0],
        metadata={"help": "MIN MAX of sound heard before the interruption"},
    )
    packet_ms: float = field(default=40.0, metadata={"help": "mic packet length"})
    gap_s: float = field(
        default=0.6, metadata={"help": "silence after the interruption before the next turn"}
    )
    max_response_steps: int = field(
        default=60, metadata={"help": "max_output_tokens (53 ms steps) per response"}
    )
    turn_timeout_s: float = field(default=20.0, metadata={"help": "give up on a turn's events after this"})
    silence_dbfs: float = field(
        default=-40.0, metadata={"help": "assistant audio below this level is silence"}
    )
    seed: int = field(default=0, metadata={"help": "picks questions, voices and interruption points"})
    synthesizers: list[str] = field(
        default_factory=lambda: ["espeak-ng", "flite"], metadata={"help": "voices"}
    )
    speech_cache: str = field(default="data/cache/bench-speech", metadata={"help": "synthesized utterances"})


CONFIG = BargeinConfig


def run(config: BargeinConfig) -> dict:
    """Interrupt `turns` responses per mode; returns the JSON-ready report."""
    check_modes(config.modes)
    low, high = (list(config.interrupt_after_ms) + [0.0, 0.0])[:2]
    if config.turns < 1 or not 0 <= low <= high:
        raise HarkError("--turns must be >= 1 and --interrupt-after-ms MIN MAX with 0 <= MIN <= MAX")
    cache = Path(config.speech_cache)
    utterances = held_out_questions(2 * config.turns, config.seed, tuple(config.synthesizers), cache)
    pairs = list(zip(utterances[::2], utterances[1::2], strict=True))
    codec = load_client_codec(config.codec, config.kbps) if TOKENS in config.modes else None
    with measuring("bargein", config, max_sessions=2) as (server, report):
        report["modes"] = {
            mode: asyncio.run(_run_mode(server, mode, pairs, codec, config)) for mode in config.modes
        }
    report["targets"] = {
        mode: {"onset_to_silence_p95_ms": TARGET_P95_MS, "met": _met(r)}
        for mode, r in report["modes"].items()
    }
    return report


def _met(result: dict) -> bool:
    p95 = result["onset_to_last_audio_ms"]["p95"]
    return p95 is not None and p95 <= TARGET_P95_MS and result["not_cancelled"] == 0


async def _run_mode(
    server: Target, mode: str, pairs: list[tuple[Utterance, Utterance]], codec, config: BargeinConfig
) -> dict:
    """One session: ask, interrupt, truncate, for every (question, interruption) pair."""
    rng = random.Random(config.seed)
    packet = packet_samples(config.packet_ms, mode)
    turns = []
    async with server.connect(mode, VAD, config.max_response_steps, codec=codec, packet=packet) as client:
        await asyncio.sleep(config.gap_s)
        for question, interruption in pairs:
            delay_s = rng.uniform(*config.interrupt_after_ms[:2]) / 1000
            turns.append(await _turn(client, question, interruption, delay_s, config))
            await asyncio.sleep(config.gap_s)
    return _summarise(turns)


async def _turn(
    client: RealtimeClient,
    question: Utterance,
    interruption: Utterance,
    delay_s: float,
    config: BargeinConfig,
) -> dict:
    """Ask, interrupt the response, and measure how it stopped and what was kept."""
    record: dict = {
        "question": question.text,
        "interruption": interruption.text,
        "delay_ms": round(1000 * delay_s),
    }
    try:
        rid, first, said, done, start = await _interrupt(client, question, interruption, delay_s, config)
    except TimeoutError as e:
        record["error"] = str(e)
        await client.send("response.cancel")  # whatever is still running must not spill into the next turn
        return record
    onset = said.at(interruption.voiced_start)
    response = done.event["response"]
    record.update(status=response["status"], reason=(response.get("status_details") or {}).get("reason"))
    if done.t < onset:
        record["interrupted"] = False  # it had finished before the user spoke: nothing to measure
        return record
    record["interrupted"] = record["status"] == "cancelled" and record["reason"] == "turn_detected"
    audio = [a for a in client.log[start:] if a.chunk is not None and a.response_id == rid]
    record["onset_to_last_audio_ms"] = round(1000 * (audio[-1].t - onset), 1)
    record["onset_to_done_ms"] = round(1000 * (done.t - onset), 1)
    metrics = await client.wait_for(
        lambda a: a.type == ServerEvents.HARK_METRICS and a.response_id == rid, config.turn_timeout_s, start
    )
    record["server_onset_to_cancel_ms"] = metrics.event["latency_ms"].get("speech_onset_to_cancel")
    record.update(await _truncate(client, rid, audio, first.t, onset, config.turn_timeout_s))
    return record


async def _interrupt(
    client: RealtimeClient,
    question: Utterance,
    interruption: Utterance,
    delay_s: float,
    config: BargeinConfig,
) -> tuple[str, Arrival, Said, Arrival, int]:
    """Ask the question, wait until its answer sounds, speak over it; returns (response id, its first audio,
    the interruption, its response.done, the log index where the turn began). Raises TimeoutError."""
    timeout = config.turn_timeout_s
    _, start = await client.ask(question.pcm, commit=False)  # server VAD commits the question itself
    rid = (
        await client.wait_for(lambda a: a.type == ServerEvents.RESPONSE_CREATED, timeout, start)
    ).response_id
    first = await client.wait_for(lambda a: a.chunk is not None and a.response_id == rid, timeout, start)
    # VAD must have closed the question's speech, or the interruption would only continue it
    stopped = await client.wait_for(lambda a: a.type == ServerEvents.SPEECH_STOPPED, timeout, start)
    heard = first_sound(client.audio(rid), 10 ** (config.silence_dbfs / 20)) or first.chunk.t
    await asyncio.sleep(max(0.0, max(heard, stopped.t) + delay_s - time.monotonic()))
    said = await client.speak(interruption.pcm)
    done = await client.wait_for(
        lambda a: a.type == ServerEvents.RESPONSE_DONE and a.response_id == rid, timeout, start
    )
    return rid, first, said, done, start


async def _truncate(
    client: RealtimeClient, rid: str, audio: list[Arrival], since: float, onset: float, timeout: float
) -> dict:
    """Stop the simulated player at speech_started (the first after `since`), send what it played, check the
    server's confirmation; also when a player would fall silent, measured from the interruption's `onset`."""
    started = [a for a in client.log if a.type == ServerEvents.SPEECH_STARTED and a.t > since]
    done = client.events(ServerEvents.RESPONSE_DONE, rid)[-1]
    stop = started[0].t if started else done.t
    chunks = [a.chunk for a in audio]
    played, received = played_samples(chunks, stop), sum(c.samples for c in chunks)
    played_ms = int(1000 * played / SAMPLE_RATE)
    ends_at = start_times(chunks)[-1] + chunks[-1].samples / SAMPLE_RATE  # a player that never flushes
    item = next(
        a for a in client.events(ServerEvents.OUTPUT_ITEM_ADDED, rid) if a.event["item"]["type"] == "message"
    )
    item_id = item.event["item"]["id"]
    mark = len(client.log)
    await client.send("conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=played_ms)
    reply = await client.wait_for(
        lambda a: (
            a.type == ServerEvents.ERROR
            or (a.type == ServerEvents.ITEM_TRUNCATED and a.event["item_id"] == item_id)
        ),
        timeout,
        mark,
    )
    confirmed = reply.event.get("audio_end_ms") if reply.type != "error" else None
    return {
        "onset_to_speech_started_ms": round(1000 * (stop - onset), 1),  # a player flushing on it is quiet
        "onset_to_playback_end_ms": round(1000 * (ends_at - onset), 1),  # one playing all it received
        "played_ms": played_ms,
        "received_ms": round(1000 * received / SAMPLE_RATE, 1),
        "unplayed_ms": round(1000 * (received - played) / SAMPLE_RATE, 1),
        "truncated_ms": confirmed,
        "truncate_ok": confirmed == played_ms and played <= received,
        "truncate_error": reply.event["error"]["message"] if reply.type == ServerEvents.ERROR else None,
    }


def _summarise(turns: list[dict]) -> dict:
    cut = [t for t in turns if t.get("interrupted")]
    measured = [t for t in turns if "onset_to_done_ms" in t]
    ended = [t for t in measured if not t["interrupted"] and t["onset_to_last_audio_ms"] <= TARGET_P95_MS]
    return {
        "turns": turns,
        "interrupted": len(cut),
        "finished_before_interruption": sum(
            t.get("interrupted") is False and "onset_to_done_ms" not in t for t in turns
        ),
        # it ended on its own while the user was starting to talk, quiet within the target anyway (the
        # speech's first voiced samples can precede what VAD confirms as speech by more than that)
        "ended_while_interrupted": len(ended),
        "not_cancelled": len(measured) - len(cut) - len(ended),  # missed: it went on talking over the user
        "errors": sum("error" in t for t in turns),
        "onset_to_last_audio_ms": stats.summary([t["onset_to_last_audio_ms"] for t in cut]),
        "onset_to_done_ms": stats.summary([t["onset_to_done_ms"] for t in cut]),
        "onset_to_speech_started_ms": stats.summary([t["onset_to_speech_started_ms"] for t in cut]),
        "onset_to_playback_end_ms": stats.summary([t["onset_to_playback_end_ms"] for t in cut]),
        "server_onset_to_cancel_ms": stats.summary([t["server_onset_to_cancel_ms"] for t in cut]),
        "unplayed_ms": stats.summary([t["unplayed_ms"] for t in cut]),
        "truncate_ok": sum(bool(t.get("truncate_ok")) for t in cut),
    }


def format_report(report: dict) -> str:
    """The terminal table (cut: cancelled by the interruption; missed: not cancelled, talked on; ended: it
    ended on its own within the target after the onset; early: it had ended before the interruption;
    errors: turns that timed out)."""
    lines = [
        f"barge-in: user speech onset -> assistant quiet; load average {report['machine']['load_average']}",
        f"{'mode':<7}{'cut':>4}{'missed':>7}{'ended':>6}{'early':>6}{'errors':>7}{'->last audio p50/p95':>22}"
        f"{'->done p50/p95':>16}{'server p50':>11}{'truncate ok':>12}",
    ]
    for mode, r in report["modes"].items():
        a, d = r["onset_to_last_audio_ms"], r["onset_to_done_ms"]
        lines.append(
            f"{mode:<7}{r['interrupted']:>4}{r['not_cancelled']:>7}{r['ended_while_interrupted']:>6}"
            f"{r['finished_before_interruption']:>6}"
            f"{r['errors']:>7}{_pair(a):>22}{_pair(d):>16}{stats.ms(r['server_onset_to_cancel_ms']['p50']):>11}"
            f"{r['truncate_ok']:>8}/{r['interrupted']}"
        )
    lines.append(f"target (shipped model): onset -> silence p95 <= {TARGET_P95_MS:g} ms")
    if report.get("profile"):
        lines.append(format_profile(report["profile"]))
    return "\n".join(lines)


def _pair(s: dict) -> str:
    return f"{stats.ms(s['p50'])} / {stats.ms(s['p95'])}"


def plot(report: dict, out_dir: Path) -> list[Path]:
    """bargein.png: histograms of onset -> last audio and onset -> response.done."""
    from app.bench.plots import bargein_figure  # matplotlib only when plotting

    return [bargein_figure(report, out_dir / "bargein.png")]
