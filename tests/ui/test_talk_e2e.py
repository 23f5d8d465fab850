"""`hark talk` end to end through real sound devices: a PulseAudio null sink whose monitor is the microphone.

Whatever the app plays comes straight back into its microphone, like laptop speakers without headphones. The
user greets the assistant and the untrained engine answers and goes on talking, so for two seconds the
microphone hears nothing but the assistant's own voice: with echo cancellation that must not count as the
user (no barge-in), without it it does (the same test fails the other way). Then a spoken question is
played into the room: it must get through the canceller, cut the assistant within one audio block, reach
the session (server VAD hears speech) and be acknowledged by a truncate of what was actually heard.
"""

from __future__ import annotations

import asyncio

import numpy as np
from talk_helpers import press, until
from textual.widgets import Button, Select

from audio.devices import OutputDevice
from audio.levels import align, rms_dbfs
from audio.tts import Voice, synthesize
from ui.app import TalkApp
from ui.audio_io import AudioIO, AudioSpec
from ui.client import TalkClient, TalkConfig
from ui.devices_screen import DevicesScreen
from ui.echo import EchoCanceller
from ui.transport import EmbeddedConnector

OWN_VOICE_S = 2.0  # time the assistant talks alone into the loopback before the question
ANSWER = "seventeen plus five is twenty two. I am hark, your desk assistant, and it is five past two."


def _talk_app(models, aec: bool) -> TalkApp:
    client = TalkClient(EmbeddedConnector(*models), AudioIO(AudioSpec()), TalkConfig(aec=aec))
    return TalkApp(client, "e2e")


async def _greeted(client: TalkClient, greeting: np.ndarray) -> None:
    """The user says hello into the room; the assistant answers (the untrained one talks until it is cut)."""
    async with OutputDevice() as room:
        room.write(0.5 * greeting)
        await room.drain()
    await until(lambda: client.playback is not None and client.playback.audible, what="the assistant's voice")


async def test_own_voice_does_not_interrupt_with_aec_but_the_user_does(
    pulse_server, models, greeting, question
):
    """AEC on: 2 s of the assistant's echo cause no barge-in; a spoken question then cuts playback within
    one block and reaches the session as speech."""
    app = _talk_app(models, aec=True)
    async with app.run_test() as pilot:
        client = app.client
        await _greeted(client, greeting)
        await asyncio.sleep(OWN_VOICE_S)
        sink = client.audio.sink
        assert client.stats["barge_ins"] == 0, "the assistant interrupted itself through the echo path"
        assert sink.played_samples > 1.5 * sink.sample_rate  # its voice really came out of the speaker
        print(f"echo reduction of the untrained voice: {client.aec.echo_reduction_db:.1f} dB")

        async with OutputDevice() as room:  # the user speaks: into the sink the microphone listens to
            spoke_at = asyncio.get_running_loop().time()  # the loop's clock is time.monotonic
            room.write(0.5 * question)
            await until(lambda: client.stats["barge_ins"] == 1, timeout=3.0, what="barge-in by the question")
            at, played = client.last_flush
            print(f"question onset -> playback flushed: {1000 * (at - spoke_at):.0f} ms")
            await asyncio.sleep(0.2)
            after = sink.played_samples - played
            print(f"played after the flush: {after} samples (block {client.audio.block_size})")
            assert after <= client.audio.block_size
            await until(
                lambda: client.events_seen["input_audio_buffer.speech_started"] >= 1, what="server VAD"
            )
            await until(lambda: client.events_seen["conversation.item.truncated"] >= 1, what="truncate ack")
            await room.drain()
        assert rms_dbfs(question) > -40  # the question was real speech, not a whisper the detector could miss
        await press(pilot, "q")


async def test_echo_canceller_removes_spoken_echo_and_keeps_the_user(pulse_server, question):
    """The client's echo path on real devices with a real voice (flite, the assistant's voice): after the
    first second the echo is reduced by over 20 dB (median of 100 ms stretches), and a user talking over it
    comes through.

    Why a median: one CI run measured 18.8 dB as an energy sum over the stretch, decided by about a second
    of poor cancellation after the speaker -> microphone delay had shifted (a late output callback: the
    sound server played silence the reference did not have; `OutputDevice.read_output` now puts it in).
    A stretch the canceller spends re-converging for any reason should not decide the score; without the
    canceller every stretch is at 0 dB."""
    answer = 0.5 * synthesize(ANSWER, Voice("flite", "rms"))
    audio = AudioIO(AudioSpec())
    audio.open()
    try:
        aec = EchoCanceller(audio.sample_rate, int(1000 * (audio.input_latency + audio.output_latency)))
        audio.sink.write(answer)
        raw, clean, user_at = [], [], None
        async with OutputDevice() as room:
            while audio.sink.played_samples < len(answer):
                block = await audio.read()
                aec.render(audio.sink.read_output())
                raw.append(block)
                clean.append(aec.capture(block))
                if user_at is None and len(raw) * len(block) > 3 * audio.sample_rate:
                    user_at = len(raw) * len(block)
                    room.write(0.3 * question)
    finally:
        audio.close()
    raw, clean = np.concatenate(raw), np.concatenate(clean)
    reductions = _echo_reduction_db(raw[audio.sample_rate : user_at], clean[audio.sample_rate : user_at])
    reduction = float(np.median(reductions))
    user = align(question, clean[user_at:])
    print(
        f"speech echo reduction: median {reduction:.1f} dB, worst 100 ms {min(reductions):.1f} dB; "
        f"user kept: correlation {user.correlation:.2f}, gain {user.gain_db:.1f} dB"
    )
    assert reduction > 20.0
    # Other speech aligns at ~0.07. The canceller's double-talk suppression and a delay shift inside the
    # user's words lower the match (0.34-0.68 here under load), but the user's level stays (-12 to -18 dB
    # for a question played at 0.3); a suppressed user would sink to the residual echo.
    assert user.correlation > 0.3 and user.gain_db > -20.0


def _echo_reduction_db(raw: np.ndarray, clean: np.ndarray, stretch: int = 2400) -> list[float]:
    """Microphone level minus cancelled level, dB, per `stretch` samples in which the echo is audible."""
    reductions = []
    for start in range(0, len(raw) - stretch + 1, stretch):
        mic = raw[start : start + stretch] - raw[start : start + stretch].mean()
        if rms_dbfs(mic) > -50.0:  # pauses between the assistant's words hold no echo to cancel
            reductions.append(rms_dbfs(mic) - rms_dbfs(clean[start : start + stretch]))
    return reductions


async def test_own_voice_interrupts_without_aec(pulse_server, models, greeting):
    """AEC off (--no-aec): the assistant's echo alone is taken for the user and cuts it (this is what the
    test above guards against)."""
    app = _talk_app(models, aec=False)
    async with app.run_test() as pilot:
        client = app.client
        await _greeted(client, greeting)
        await until(lambda: client.stats["barge_ins"] >= 1, timeout=OWN_VOICE_S, what="self-interruption")
        assert client.aec is None
        await press(pilot, "q")


async def test_device_picker_lists_checks_and_switches(pulse_server, models, greeting, question):
    """d lists the PulseAudio devices, the meter shows the microphone (it hears the assistant), t plays a
    tone, and "Use these" reopens the conversation on the chosen devices: the user is heard on the new
    microphone and answered on the new speaker."""
    app = _talk_app(models, aec=True)
    async with app.run_test() as pilot:
        client = app.client
        await _greeted(client, greeting)
        await press(pilot, "d")
        await until(lambda: isinstance(app.screen, DevicesScreen), what="the picker")
        picker = app.screen
        await until(lambda: len(picker.query_one("#input-select", Select)._options) > 1, what="the devices")
        await until(lambda: picker.query_one("#input-check").level > -60, what="a microphone level")
        await press(pilot, "t")
        await until(lambda: "tone" in picker.status and "played" in picker.status, what="the tone")
        picker.query_one("#apply", Button).press()
        await until(lambda: client.audio.generation == 1, what="the switch")
        # The assistant may be talking or (after a barge-in by an echo the fresh canceller let through)
        # waiting for the user: either way a spoken turn on the new devices gets an answer.
        stopped = "input_audio_buffer.speech_stopped"
        turns = client.events_seen[stopped]
        async with OutputDevice() as room:
            room.write(0.5 * question)
            await until(lambda: client.events_seen[stopped] > turns, what="the user's turn")
            await room.drain()
        played = client.audio.sink.played_samples
        await until(lambda: client.audio.sink.played_samples > played, what="the answer on the new speaker")
        await press(pilot, "q")
