"""The talk screen (`hark talk`): a Textual app that displays and drives a `ui.client.TalkClient`.

The client runs as a worker on the app's event loop (its audio callbacks hop onto that loop; model compute
runs in threads). Twenty times a second the app copies the client's state into reactive variables and
widgets. Every key binding is also a command in the command palette (ctrl+p).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from audio.devices import AudioDeviceError
from ui.client import TalkClient
from ui.conversation import LISTENING
from ui.devices_screen import DevicesScreen
from ui.widgets import Banner, ConversationView, LatencyPanel, LevelMeter, StateIndicator

log = logging.getLogger(__name__)

REFRESH_S = 0.05


class TalkApp(App[None]):
    """Talk to the assistant.

    Args:
        client: the conversation client (not yet running; the app runs it and closes it on quit).
        title: shown in the terminal's title (e.g. the server address or "embedded").
    """

    CSS_PATH = "app.tcss"
    BINDINGS = [
        Binding("space", "mute", "Mute"),
        Binding("space", "talk", "Talk"),
        Binding("i", "interrupt", "Interrupt"),
        Binding("escape", "interrupt", "Interrupt", show=False),
        Binding("r", "reset", "Reset"),
        Binding("d", "devices", "Devices"),
        Binding("q", "quit", "Quit"),
    ]

    # init=False: the watchers update widgets found in on_mount
    state: reactive[str] = reactive(LISTENING, init=False)
    banner: reactive[str] = reactive("", init=False)
    muted: reactive[bool] = reactive(False, init=False)
    latency_count: reactive[int] = reactive(0, init=False)

    def __init__(self, client: TalkClient, title: str = "hark") -> None:
        super().__init__()
        self.client = client
        self.title = f"hark talk · {title}"
        self.states_seen: deque[str] = deque([LISTENING], maxlen=256)  # recent states shown, in order
        self.error: str | None = None  # why the app stopped, when it had to
        self._shown_error = ""

    def watch_state(self, state: str) -> None:
        self._indicator.state = state
        if self.states_seen[-1] != state:
            self.states_seen.append(state)

    def watch_banner(self, banner: str) -> None:
        self._banner.message = banner

    def watch_muted(self, muted: bool) -> None:
        self._indicator.muted = muted

    def watch_latency_count(self) -> None:
        self._latency.show(self.client.conversation.latencies_ms)

    def compose(self) -> ComposeResult:
        yield Banner(id="banner")
        with Horizontal(id="status-row"):
            yield StateIndicator(id="state")
            with Vertical(id="meters"):
                yield LevelMeter("mic    ", id="mic-level")
                yield LevelMeter("speaker", id="speaker-level")
            yield LatencyPanel(id="latency")
        yield ConversationView(id="conversation")
        yield Footer()

    def on_mount(self) -> None:
        # Kept, not queried per refresh: a query looks at the active screen, which may be the device picker.
        self._mic_meter = self.query_one("#mic-level", LevelMeter)
        self._speaker_meter = self.query_one("#speaker-level", LevelMeter)
        self._conversation = self.query_one(ConversationView)
        self._indicator = self.query_one(StateIndicator)
        self._banner = self.query_one(Banner)
        self._latency = self.query_one(LatencyPanel)
        self.run_client()
        self._refresher = self.set_interval(REFRESH_S, self.refresh_from_client)

    @work(exclusive=True, group="client", exit_on_error=False)
    async def run_client(self) -> None:
        """The conversation client, for the app's lifetime."""
        await self.client.run()

    @on(Worker.StateChanged)
    def _client_ended(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "client" or event.state not in (WorkerState.ERROR, WorkerState.SUCCESS):
            return
        error = event.worker.error
        if isinstance(error, AudioDeviceError):
            self.error = str(error)
        elif error is not None:
            self.error = f"the conversation client failed: {error!r}"
            log.error("client failed", exc_info=error)
        self._refresher.stop()
        self.exit(return_code=1 if self.error else 0)  # the command prints the error after the screen closes

    def refresh_from_client(self) -> None:
        """Copy the client's state into the screen."""
        c = self.client
        self.state, self.banner, self.muted = c.state, c.banner, c.muted
        self.latency_count = len(c.conversation.latencies_ms)
        self._mic_meter.level = c.input_dbfs
        self._speaker_meter.level = c.output_dbfs
        self._conversation.sync(c.conversation, c.heard)
        if c.last_error != self._shown_error:
            self._shown_error = c.last_error
            self.notify(c.last_error, severity="warning", timeout=6)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Space is "Talk" in push-to-talk mode and "Mute" otherwise (the other binding is hidden)."""
        if action in ("mute", "talk"):
            return (action == "talk") == self.client.config.push_to_talk
        return True

    async def action_mute(self) -> None:
        """Mute or unmute the open microphone."""
        await self.client.toggle_space()

    async def action_talk(self) -> None:
        """Start or end a push-to-talk turn."""
        await self.client.toggle_space()

    async def action_interrupt(self) -> None:
        """Stop the assistant now."""
        await self.client.interrupt()

    async def action_reset(self) -> None:
        """Start a new conversation."""
        await self.client.reset()

    def action_devices(self) -> None:
        """Open the device picker."""
        spec = self.client.audio.spec
        screen = DevicesScreen(spec.input_device, spec.output_device, self.client.audio.config)
        self.client.paused = True  # the test tone must not barge in
        self.push_screen(screen, self._devices_chosen)

    def _devices_chosen(self, chosen: tuple[str | None, str | None] | None) -> None:
        self.client.paused = False
        if chosen is None:
            return
        try:
            self.client.switch_devices(*chosen)
        except AudioDeviceError as e:
            self.notify(str(e), title="devices unchanged", severity="error", timeout=8)

    async def action_quit(self) -> None:
        """Close the conversation (writing --output) and exit once the client has stopped."""
        await self.client.close()
        if not any(w.group == "client" and w.is_running for w in self.workers):
            self.exit()  # the client had already stopped: nothing else will end the app

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if self.client.config.push_to_talk:
            yield SystemCommand("Talk (push-to-talk)", "space: start or end your turn", self.action_talk)
        else:
            yield SystemCommand("Mute / unmute", "space: close or open the microphone", self.action_mute)
        yield SystemCommand("Interrupt", "i / Escape: stop the assistant now", self.action_interrupt)
        yield SystemCommand("Reset conversation", "r: start a new conversation", self.action_reset)
        yield SystemCommand("Devices", "d: pick microphone and speaker", self.action_devices)
