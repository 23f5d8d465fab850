"""The speaker side of a conversation: what was queued for each assistant item, and what was heard of it.

`Playback` wraps a sink (`audio.devices.OutputDevice` or a paced `audio.filedev.ArraySink`). Each assistant
audio item starts where the sink's queue ends when its first samples arrive, so on the sink's timeline of
played samples (`played_samples`, which flushed audio never enters) an item covers [start, start + length).
What the listener has heard of it is the played position minus the device's own latency, clipped to the item:
that is the `audio_end_ms` of `conversation.item.truncate` after a barge-in, and the position up to which the
assistant's words are revealed on screen.

What the speaker actually put out (the echo canceller's reference and the speaker's level meter) comes
from the sink itself, `sink.read_output()`, which the client takes every block.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from audio.devices import AudioSink

ECHO_TAIL_S = 0.3  # after the speaker stops, its echo may still reach the microphone this long


@dataclass
class PlayedItem:
    """One assistant item on the sink's timeline (sample counts at the sink's rate)."""

    item_id: str
    start: int  # played position of its first sample
    length: int = 0  # samples queued so far
    cap: int | None = None  # samples handed to the device before a flush cut it


class Playback:
    """Queue assistant audio per item and answer "what has been heard?".

    Args:
        sink: where the audio goes; must offer `write`, `flush`, `played_samples` and `queued_samples`.
        latency_s: the device's output latency (audio handed to it but not yet heard).
    """

    def __init__(self, sink: AudioSink, latency_s: float = 0.0) -> None:
        self.sink = sink
        self.sample_rate = sink.sample_rate
        self.latency = int(latency_s * sink.sample_rate)
        self.items: dict[str, PlayedItem] = {}
        self._seen = 0  # played position at the last `audible` check
        self._last_sound = float("-inf")  # monotonic time the speaker was last seen playing

    def write(self, item_id: str, pcm: np.ndarray) -> None:
        """Queue float32 [n] samples of an assistant item."""
        item = self.items.get(item_id)
        if item is None:
            item = self.items[item_id] = PlayedItem(item_id, self.sink.played_samples + self.queued)
            while len(self.items) > 64:  # only recent items can still be truncated or revealed
                self.items.pop(next(iter(self.items)))
        if item.cap is not None:
            return  # cut by a flush: late audio of a cancelled item is not played
        self.sink.write(pcm)
        item.length += len(pcm)

    def flush(self) -> None:
        """Silence the sink now (within one block) and cut every item at what the device was handed."""
        self.sink.flush()
        played = self.sink.played_samples
        for item in self.items.values():
            item.cap = min(item.length, max(0, played - item.start))

    @property
    def queued(self) -> int:
        """Samples queued and not yet handed to the device."""
        return int(self.sink.queued_samples)

    def heard(self, item_id: str) -> int:
        """Samples of the item the listener has heard by now (played minus device latency, clipped)."""
        item = self.items.get(item_id)
        if item is None:
            return 0
        end = item.length if item.cap is None else item.cap
        return int(min(end, max(0, self.sink.played_samples - self.latency - item.start)))

    def heard_ms(self, item_id: str) -> int:
        """`heard` in whole milliseconds (for conversation.item.truncate)."""
        return self.heard(item_id) * 1000 // self.sample_rate

    def seconds_until_heard(self) -> float:
        """How long until a sample queued now reaches the listener."""
        return (self.queued + self.latency) / self.sample_rate

    @property
    def audible(self) -> bool:
        """The speaker is playing, or stopped so recently that its echo may still be in the room."""
        played = self.sink.played_samples
        if played != self._seen:
            self._seen, self._last_sound = played, time.monotonic()
        return self.queued > 0 or time.monotonic() - self._last_sound < ECHO_TAIL_S
