"""The talk app driven headless (Textual Pilot) over real sessions: embedded, or `hark serve` on port 0.

The engine is untrained (tiny preset, random weights): it starts talking at once and never stops on its own,
so the spoken question, arriving a second later, always barges in. That makes the state sequence fixed:
speaking -> interrupted -> user speaking -> thinking.
"""

from __future__ import annotations

import socket

from rich.text import Text
from talk_helpers import press, until
from textual.command import CommandPalette
from textual.widgets import Footer

from app.protocol import ServerEvents
from app.server import ServerConfig, running_server
from ui.app import TalkApp
from ui.audio_io import AudioIO, AudioSpec
from ui.client import TalkClient, TalkConfig
from ui.conversation import INTERRUPTED, SPEAKING, THINKING, USER_SPEAKING, Piece, Turn
from ui.devices_screen import DevicesScreen
from ui.transport import WebsocketConnector
from ui.widgets import (
    Banner,
    ConversationView,
    LatencyPanel,
    LevelMeter,
    StateIndicator,
    TurnView,
    render_turn,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _assistant_views(app: TalkApp) -> list[TurnView]:
    return [v for v in app.query(TurnView) if v.turn.role == "assistant"]


async def test_screen_has_every_widget(file_client):
    """The screen shows state, both level meters, latency panel, conversation and footer; no banner."""
    app = TalkApp(file_client())
    async with app.run_test() as pilot:
        await pilot.pause(0.2)
        assert app.query_one(StateIndicator).state in app.states_seen
        assert {m.id for m in app.query(LevelMeter)} == {"mic-level", "speaker-level"}
        assert app.query_one(LatencyPanel) and app.query_one(ConversationView) and app.query_one(Footer)
        assert not app.query_one(Banner).display
        await press(pilot, "q")
        await until(lambda: not app.is_running, what="the app to exit on q")


async def test_states_follow_a_spoken_question_over_hark_serve(models, question_wav, tmp_path):
    """Against a real server: the user greets, the assistant answers, the question barges in (cut marked,
    truncate acknowledged), the user is heard and transcribed, the app waits for the answer; q writes the
    output."""
    async with running_server(ServerConfig(port=0, seed=0), *models) as server:
        out = tmp_path / "out.wav"
        audio = AudioIO(AudioSpec(input_file=str(question_wav), output_file=str(out)))
        connector = WebsocketConnector(f"ws://127.0.0.1:{server.port}/v1/realtime")
        app = TalkApp(TalkClient(connector, audio, TalkConfig()))
        async with app.run_test() as pilot:
            client = app.client

            def after_cut() -> list[str]:
                seen = list(app.states_seen)
                return seen[seen.index(INTERRUPTED) :] if INTERRUPTED in seen else []

            await until(lambda: THINKING in after_cut(), what=f"thinking after a cut; saw {app.states_seen}")
            seen = list(app.states_seen)
            assert seen.index(USER_SPEAKING) < seen.index(SPEAKING) < seen.index(INTERRUPTED)  # greeted first
            assert after_cut().index(USER_SPEAKING) < after_cut().index(THINKING)
            E = ServerEvents
            for event in (E.AUDIO_DELTA, E.SPEECH_STARTED, E.ITEM_TRUNCATED, E.SPEECH_STOPPED):
                assert client.events_seen[event], f"no {event} from the server"
            await until(
                lambda: any(t.role == "user" and t.text for t in client.conversation.turns), what="transcript"
            )
            await pilot.pause(0.1)
            assert client.stats["errors"] == 0  # the truncate's audio_end_ms was within what the server sent
            cut = [v for v in _assistant_views(app) if v.turn.cut is not None]
            assert cut and "✂ interrupted" in str(cut[0].render())
            await press(pilot, "q")
            await until(lambda: not app.is_running, what="exit")
        assert out.stat().st_size > 44 + 2 * 24000  # over a second of played audio


async def test_keys_mute_interrupt_reset_devices_quit(file_client, greetings_wav, tmp_path):
    """space mutes, i interrupts the speaking assistant (cut, truncate acknowledged), r starts a new
    session, space unmutes (a greeting is answered), Escape interrupts too, d opens the device picker
    (Escape closes it), q quits."""
    client = file_client(greetings_wav)
    app = TalkApp(client)
    async with app.run_test() as pilot:
        await until(lambda: app.state == SPEAKING, what="the assistant to speak")
        await press(pilot, "space")  # muted from here: the question in the input file cannot barge in
        await pilot.pause(0.1)
        assert client.muted and "[muted]" in str(app.query_one(StateIndicator).render())
        await press(pilot, "i")
        await until(lambda: client.stats["barge_ins"] == 1, what="the cut")
        assert client.last_flush is not None
        await until(lambda: INTERRUPTED in app.states_seen, what="the interrupted state")
        await until(lambda: client.events_seen["conversation.item.truncated"] == 1, what="truncate ack")
        before = {t.item_id for t in client.conversation.turns}
        await press(pilot, "r")
        await until(lambda: client.stats["sessions"] == 2 and client.connected, what="a new session")
        assert before and not before & {t.item_id for t in client.conversation.turns}
        await press(pilot, "space")
        await until(lambda: not client.muted, what="unmuted")
        await until(lambda: client.state == SPEAKING, what="the assistant to speak again")
        await press(pilot, "escape")
        await until(lambda: client.stats["barge_ins"] == 2, what="the cut by Escape")
        await press(pilot, "d")
        await until(lambda: isinstance(app.screen, DevicesScreen), what="the device picker")
        await press(pilot, "escape")
        await until(lambda: not isinstance(app.screen, DevicesScreen), what="the picker to close")
        await press(pilot, "q")
        await until(lambda: not app.is_running, what="exit")
    assert (tmp_path / "out.wav").exists()


async def test_push_to_talk_space_commits_a_turn(file_client):
    """In push-to-talk mode space opens the mic; closing it commits the turn and asks for a response, whose
    first audio gives the turn's latency (end of speech -> first audio heard), shown with its history."""
    client = file_client(push_to_talk=True)
    app = TalkApp(client)
    async with app.run_test() as pilot:
        await until(lambda: client.connected, what="connected")
        assert not client._mic_open
        await press(pilot, "space")
        await until(lambda: client.talking and client._mic_open, what="the mic to open")
        await pilot.pause(0.5)
        await press(pilot, "space")
        await until(lambda: client.events_seen["input_audio_buffer.committed"] == 1, what="commit ack")
        await until(lambda: client.events_seen["response.created"] >= 1, what="a response")
        await until(lambda: client.conversation.latencies_ms, what="a latency")
        assert 0 < client.conversation.latencies_ms[0] < 5000
        await pilot.pause(0.1)
        assert " ms" in str(app.query_one("#latency-text").render())
        await press(pilot, "q")


async def test_every_action_is_in_the_command_palette(file_client):
    """The palette offers mute/talk, interrupt, reset, devices and quit; running "Reset" from it resets."""
    app = TalkApp(file_client())
    async with app.run_test() as pilot:
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Mute / unmute", "Interrupt", "Reset conversation", "Devices", "Quit"} <= titles
        await until(lambda: app.client.connected, what="connected")
        await press(pilot, "ctrl+p")
        await until(lambda: isinstance(app.screen, CommandPalette), what="the palette")
        await press(pilot, *"reset")
        await pilot.pause(0.3)
        await press(pilot, "enter")
        await until(lambda: app.client.stats["sessions"] == 2, what="reset from the palette")
        await press(pilot, "q")


async def test_unreachable_server_banner_then_reconnect(models, file_client, question_wav, tmp_path):
    """With no server at the address a banner says so and retries; once the server is up the client connects
    and the banner goes; when the server goes away, the banner is back."""
    port = _free_port()
    audio = AudioIO(AudioSpec(input_file=str(question_wav), output_file=str(tmp_path / "o.wav")))
    connector = WebsocketConnector(f"ws://127.0.0.1:{port}/v1/realtime")
    app = TalkApp(TalkClient(connector, audio, TalkConfig(backoff_s=(0.2, 0.4))))
    async with app.run_test() as pilot:
        await until(lambda: "cannot reach" in app.banner, what="the unreachable banner")
        await pilot.pause(0.1)
        assert app.query_one(Banner).display
        async with running_server(ServerConfig(port=port, seed=0), *models):
            await until(lambda: app.client.connected and not app.banner, what="reconnection")
        await until(lambda: "reconnecting" in app.banner or "cannot reach" in app.banner, what="drop banner")
        await press(pilot, "q")


async def test_token_mode_over_hark_serve(models, question_wav, tmp_path):
    """With --tokens the client encodes the microphone itself and plays the assistant's codes it decodes:
    binary frames both ways, audio out of the speaker, no protocol errors. (Push-to-talk: without audio the
    server's turn detection follows the untrained engine's transcript, which never stops.)"""
    async with running_server(ServerConfig(port=0, seed=0), *models) as server:
        audio = AudioIO(AudioSpec(input_file=str(question_wav), output_file=str(tmp_path / "o.wav")))
        connector = WebsocketConnector(f"ws://127.0.0.1:{server.port}/v1/realtime")
        client = TalkClient(connector, audio, TalkConfig(tokens=True, push_to_talk=True), codec=models[1])
        app = TalkApp(client)
        async with app.run_test() as pilot:
            await until(lambda: client.connected, what="connected")
            await press(pilot, "space")
            await pilot.pause(0.3)
            await press(pilot, "space")
            await until(lambda: client.audio.sink is not None and client.audio.sink.played_samples > 12000,
                        what="decoded assistant audio")  # fmt: skip
            assert client.events_seen["response.output_item.added"] and client.stats["sent_samples"] > 0
            assert client.stats["errors"] == 0 and not client.banner
            await press(pilot, "q")


def test_cut_turn_strikes_the_unheard_words():
    """An interrupted turn shows the heard words plainly and the cut-off ones dim and struck through."""
    turn = Turn(
        "assistant", "item_1", pieces=[Piece(0, "seventeen"), Piece(4800, " plus"), Piece(9600, " five")]
    )
    turn.cut = 6000
    text: Text = render_turn(turn, heard=8000)
    assert text.plain.startswith("hark seventeen plus five")
    struck = [text.plain[s.start : s.end] for s in text.spans if "strike" in str(s.style)]
    assert struck == [" five"]
    assert "interrupted" in text.plain
    queued = Turn("assistant", "item_2", pieces=[Piece(0, "hi"), Piece(24000, " there")])
    assert render_turn(queued, heard=100).plain == "hark hi"  # not yet spoken: not shown
