"""Widgets of the talk screen: conversation view, level meters, state indicator, latency panel, banner.

They only display; the app copies the client's state into them several times a second. Styles live in
ui/app.tcss.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label, Sparkline, Static

from ui.conversation import LISTENING, Conversation, Turn

METER_FLOOR_DB = -60.0  # the left end of a level meter
HISTORY = 30  # latencies shown in the sparkline


def state_class(state: str) -> str:
    """CSS class of a state name ("user speaking" -> "state-user-speaking")."""
    return "state-" + state.replace(" ", "-")


class StateIndicator(Static):
    """What the conversation is doing now: listening / user speaking / thinking / speaking / interrupted."""

    state: reactive[str] = reactive(LISTENING)
    muted: reactive[bool] = reactive(False)

    def watch_state(self, old: str, new: str) -> None:
        self.remove_class(state_class(old))
        self.add_class(state_class(new))

    def on_mount(self) -> None:
        self.add_class(state_class(self.state))

    def render(self) -> Text:
        text = Text(f"● {self.state}")
        if self.muted:
            text.append("  [muted]", style="bold")
        return text


class LevelMeter(Static):
    """A horizontal bar for a level in dBFS, from METER_FLOOR_DB (empty) to 0 (full)."""

    level: reactive[float] = reactive(-120.0)

    def __init__(self, label: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.label = label

    def render(self) -> Text:
        width = max(4, self.size.width - len(self.label) - 9)
        fill = min(1.0, max(0.0, (self.level - METER_FLOOR_DB) / -METER_FLOOR_DB))
        cells = round(fill * width)
        text = Text(f"{self.label} ")
        text.append("█" * cells, style="green" if self.level < -6 else "red")
        text.append("░" * (width - cells), style="dim")
        text.append(f" {max(self.level, -99):4.0f} dB")
        return text


class LatencyPanel(Widget):
    """Per-turn response latency: the last value, the median, and a sparkline of recent turns."""

    def compose(self) -> ComposeResult:
        yield Label("latency -", id="latency-text")
        yield Sparkline([], id="latency-history")

    def show(self, latencies_ms: list[float]) -> None:
        """Display these latencies (oldest first)."""
        if not latencies_ms:
            return
        recent = latencies_ms[-HISTORY:]
        median = sorted(recent)[len(recent) // 2]
        label = f"latency {latencies_ms[-1]:.0f} ms · median {median:.0f} · {len(latencies_ms)} turns"
        self.query_one("#latency-text", Label).update(label)
        self.query_one("#latency-history", Sparkline).data = recent


class Banner(Static):
    """A one-line warning (connection lost, reconnecting); hidden while empty."""

    message: reactive[str] = reactive("")

    def watch_message(self, message: str) -> None:
        self.display = bool(message)
        self.update(message)


class TurnView(Static):
    """One turn of the conversation."""

    def __init__(self, turn: Turn, **kwargs) -> None:
        super().__init__(**kwargs)
        self.turn = turn
        self.add_class(f"turn-{turn.role}")
        self.shown: tuple[int, int] | None = None  # (version, heard) last rendered

    def show(self, heard: int) -> None:
        """Render the turn for `heard` samples of its audio heard (assistant turns reveal words as spoken)."""
        key = (self.turn.version, heard)
        if key != self.shown:
            self.shown = key
            self.update(render_turn(self.turn, heard))


def printable(text: str) -> str:
    """Drop control characters (an untrained engine's byte pieces would garble the terminal)."""
    return "".join(ch for ch in text if ch.isprintable())


def render_turn(turn: Turn, heard: int) -> Text:
    """A turn's text: the user transcript, or the assistant's heard words plus the cut-off ones struck out."""
    if turn.role == "note":
        return Text(f"— {turn.text}", style="dim italic")
    if turn.role == "user":
        text = Text("you  ", style="bold cyan")
        text.append(printable(turn.text).strip() or "…", style="" if turn.final else "italic")
        return text
    spoken, unheard, _pending = (printable(part) for part in turn.split(heard))
    text = Text("hark ", style="bold magenta")
    text.append(spoken.strip() if spoken.strip() else ("…" if turn.cut is None else ""))
    if turn.cut is not None:
        text.append(" " + unheard.strip() if unheard.strip() else "", style="dim strike")
        text.append("  ✂ interrupted", style="bold yellow")
    if turn.latency_ms is not None:
        text.append(f"  ({turn.latency_ms:.0f} ms)", style="dim")
    return text


class ConversationView(VerticalScroll, can_focus=False):
    """The turns of the conversation, newest at the bottom (it follows the end unless scrolled back)."""

    def sync(self, conversation: Conversation, heard: Callable[[Turn], int]) -> None:
        """Bring the view up to date with the conversation."""
        views = list(self.query(TurnView))
        if len(views) > len(conversation.turns) or any(
            v.turn is not t for v, t in zip(views, conversation.turns, strict=False)
        ):
            self.remove_children()  # a reset: start over
            views = []
        new = [TurnView(t) for t in conversation.turns[len(views) :]]
        if new:
            follow = self.is_vertical_scroll_end
            self.mount_all(new)
            if follow:
                self.call_after_refresh(self.scroll_end, animate=False)
        for view in [*views, *new]:
            view.show(heard(view.turn) if view.turn.role == "assistant" else 0)
