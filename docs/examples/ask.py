"""Ask `hark serve` one spoken question with nothing but `websockets` (and numpy).

    python docs/examples/ask.py question.wav answer.wav [--url ws://127.0.0.1:8765/v1/realtime]

Streams a mono 16-bit WAV at real-time pace, as a microphone would, followed by silence, and lets
server VAD and the engine decide when the question is over (open mic). Prints what the server heard, the
assistant's words, and the response's `hark.metrics`; writes the assistant's audio to answer.wav.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time
import wave

import numpy as np
import websockets

RATE = 24000
PACKET = 960  # 40 ms, a typical microphone block


def read_pcm16(path: str) -> bytes:
    """A mono 16-bit WAV as 24 kHz PCM16 bytes (what the server takes), resampled if needed."""
    with wave.open(path, "rb") as w:
        if (w.getnchannels(), w.getsampwidth()) != (1, 2):
            raise SystemExit(f"{path}: need mono 16-bit PCM")
        rate, pcm = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), np.int16)
    if rate != RATE:  # linear interpolation: fine for speech in a demo, not for music
        t = np.arange(int(len(pcm) * RATE / rate)) * rate / RATE
        pcm = np.interp(t, np.arange(len(pcm)), pcm).astype(np.int16)
    return pcm.tobytes()


async def stream_microphone(ws, pcm: bytes, tail_s: float) -> None:
    """Send the question and then silence, each packet when its last sample would have been captured."""
    audio = pcm + bytes(2 * int(tail_s * RATE))
    start = time.monotonic()
    for i, offset in enumerate(range(0, len(audio), 2 * PACKET)):
        await asyncio.sleep(max(0.0, start + (i + 1) * PACKET / RATE - time.monotonic()))
        chunk = base64.b64encode(audio[offset : offset + 2 * PACKET]).decode()
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))


async def ask(url: str, question: str, answer: str, tail_s: float) -> None:
    """One question -> one answer; returns once the response's metrics arrived."""
    pcm = read_pcm16(question)
    out = bytearray()
    async with websockets.connect(url, max_size=None) as ws:
        mic = asyncio.create_task(stream_microphone(ws, pcm, tail_s))
        async for message in ws:
            event = json.loads(message)
            kind = event["type"]
            if kind == "conversation.item.input_audio_transcription.completed":
                print(f"heard:     {event['transcript']}")
            elif kind == "response.output_audio.delta":
                out += base64.b64decode(event["delta"])
            elif kind == "response.output_audio_transcript.done":
                print(f"assistant: {event['transcript']}")
            elif kind == "response.function_call_arguments.done":
                print(f"tool call: {event['name']}({event['arguments']})")
            elif kind == "error":
                print(f"error:     {event['error']['message']}")
            elif kind == "hark.metrics":
                print(f"metrics:   {json.dumps(event['latency_ms'])}")
                print(f"stages:    {json.dumps(event['stages_ms'])}")
                break
        mic.cancel()
    with wave.open(answer, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(RATE)
        w.writeframes(bytes(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("question", help="mono 16-bit WAV (any rate)")
    parser.add_argument("answer", help="where to write the assistant's audio")
    parser.add_argument("--url", default="ws://127.0.0.1:8765/v1/realtime")
    parser.add_argument("--tail-s", type=float, default=6.0, help="silence streamed after the question")
    args = parser.parse_args()
    asyncio.run(ask(args.url, args.question, args.answer, args.tail_s))


if __name__ == "__main__":
    main()
