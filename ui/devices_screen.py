"""The device picker: choose the microphone and the speaker, check the microphone's level, play a test tone.

Dismissed with `(input_device, output_device)` (PortAudio indexes as strings, None for the system default)
when the user picks "Use these", or None when cancelled. Opening devices can block for a moment, so the
device list, the level check and the tone run in workers.
"""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Select

from audio.devices import (
    AudioDeviceError,
    DeviceConfig,
    DeviceInfo,
    InputDevice,
    OutputDevice,
    list_devices,
    resolve_device,
)
from audio.levels import rms_dbfs
from ui.widgets import LevelMeter

DEFAULT = "default"
TONE_HZ = 440.0
TONE_S = 0.6
TONE_LEVEL = 0.25


def tone(sample_rate: int, seconds: float = TONE_S) -> np.ndarray:
    """A sine tone with 20 ms fades (no clicks), float32."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.02)
    return (TONE_LEVEL * fade * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)


def device_options(devices: list[DeviceInfo], kind: str) -> list[tuple[str, str]]:
    """(label, value) choices for a Select: the system default, then every device with `kind` channels."""
    options = [("system default", DEFAULT)]
    for d in devices:
        if d.channels(kind) > 0:
            options.append((f"[{d.index}] {d.name} ({d.host_api})", str(d.index)))
    return options


def _option_value(spec: str | None, kind: str) -> str:
    """The choice value of a device given by index or name substring (DEFAULT when it cannot be resolved)."""
    if spec is None:
        return DEFAULT
    try:
        return str(resolve_device(spec, kind).index)
    except AudioDeviceError:
        return DEFAULT


class DevicesScreen(ModalScreen[tuple[str | None, str | None] | None]):
    """Pick input and output devices.

    Args:
        input_device: the current input (index, name substring or None for the default).
        output_device: the current output.
        config: sound-card settings used for the level check and the tone.
    """

    CSS_PATH = "devices_screen.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Back"),
        Binding("t", "tone", "Test tone"),
    ]

    status: reactive[str] = reactive("looking for devices…")

    def __init__(
        self, input_device: str | None, output_device: str | None, config: DeviceConfig | None = None
    ) -> None:
        super().__init__()
        self.current = (input_device, output_device)
        self.config = config or DeviceConfig()

    def watch_status(self, status: str) -> None:
        if self.is_mounted:
            self.query_one("#devices-status", Label).update(status)

    def compose(self) -> ComposeResult:
        with Vertical(id="devices-dialog"):
            yield Label("Devices", id="devices-title")
            yield Label("Microphone")
            yield Select([("system default", DEFAULT)], id="input-select", allow_blank=False)
            yield LevelMeter("level", id="input-check")
            yield Label("Speaker")
            yield Select([("system default", DEFAULT)], id="output-select", allow_blank=False)
            with Horizontal(id="devices-buttons"):
                yield Button("Test tone", id="tone")
                yield Button("Use these", id="apply", variant="primary")
                yield Button("Cancel", id="cancel")
            yield Label(self.status, id="devices-status")

    def on_mount(self) -> None:
        self.load_devices()

    @on(Select.Changed, "#input-select")
    def _input_changed(self) -> None:
        self.check_level()

    @on(Button.Pressed, "#tone")
    def _tone_pressed(self) -> None:
        self.play_tone()

    @on(Button.Pressed, "#apply")
    def _apply(self) -> None:
        self.dismiss(self.chosen())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_tone(self) -> None:
        self.play_tone()

    @work(thread=True, exclusive=True, group="list")
    def load_devices(self) -> None:
        """List devices off the event loop (PortAudio may take a moment), then fill the choices."""
        try:
            devices = list_devices()
        except AudioDeviceError as e:
            self.app.call_from_thread(setattr, self, "status", str(e))
            return
        inp, out = self.current
        self.current = (_option_value(inp, "input"), _option_value(out, "output"))
        self.app.call_from_thread(self._fill, devices)

    @work(exclusive=True, group="level")
    async def check_level(self) -> None:
        """Show the selected microphone's level until another is chosen or the screen closes."""
        config = dataclasses.replace(self.config, input_device=self.chosen()[0])
        meter = self.query_one("#input-check", LevelMeter)
        try:
            async with InputDevice(config) as mic:
                async for block in mic:
                    meter.level = rms_dbfs(block)
        except AudioDeviceError as e:
            self.status = f"microphone: {e}"

    @work(exclusive=True, group="tone")
    async def play_tone(self) -> None:
        """Play a short tone on the selected speaker."""
        config = dataclasses.replace(self.config, output_device=self.chosen()[1])
        try:
            async with OutputDevice(config) as speaker:
                speaker.write(tone(speaker.sample_rate))
                await speaker.drain()
                await asyncio.sleep(speaker.latency)
            self.status = f"played a {TONE_HZ:.0f} Hz tone"
        except AudioDeviceError as e:
            self.status = f"speaker: {e}"

    def _fill(self, devices: list[DeviceInfo]) -> None:
        for kind, current in zip(("input", "output"), self.current, strict=True):
            select = self.query_one(f"#{kind}-select", Select)
            options = device_options(devices, kind)
            select.set_options(options)
            values = [v for _, v in options]
            select.value = current if current in values else DEFAULT
        found = sum(1 for d in devices if d.input_channels) + sum(1 for d in devices if d.output_channels)
        self.status = (
            "no audio devices found" if not found else "t: test tone · the meter shows the microphone"
        )
        self.check_level()

    def chosen(self) -> tuple[str | None, str | None]:
        """The selected (input, output), None for the system default."""
        values = [self.query_one(f"#{k}-select", Select).value for k in ("input", "output")]
        return tuple(None if v in (DEFAULT, Select.NULL) else str(v) for v in values)  # type: ignore[return-value]
