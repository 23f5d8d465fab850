"""Near-end talker detection on the (echo-cancelled) microphone: is the person speaking right now?

The client needs its own answer, at once and in every mode, to stop the assistant's playback within one audio
block when the user talks over it (server VAD answers a network round trip later, and not at all for
token-mode input). After echo cancellation the microphone holds the room's noise plus the user, so a level
test is enough: speech is audio louder than both an absolute threshold and the noise floor plus a margin,
for `min_speech_ms`; it ends after `hangover_ms` below. The floor is the quietest 10 ms frame of the last
`floor_window_s` (minimum statistics): speech always pauses between syllables, so it does not lift the floor,
while steady noise (a fan) does within that window. Each frame has its mean removed first: a DC offset
(common on cheap microphones) is not sound.

With echo cancellation on, a loud block is also checked against what the speaker played
(`ui.echo.ResidualEcho`): sound that matches it is residual echo the canceller let through (it adapts for a
moment whenever the echo path changes), not the user. Without echo handling the assistant's own voice is as
loud as the user and counts as speech: the failure `--no-aec` accepts for headphones, and the one the
end-to-end test provokes on purpose.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from audio.levels import rms_dbfs

FRAME_S = 0.01


@dataclass
class NearEndConfig:
    """Thresholds of the near-end detector (levels in dBFS of the DC-free signal)."""

    threshold_dbfs: float = -45.0  # quieter than this is never speech
    margin_db: float = 12.0  # speech must be this far above the noise floor
    min_speech_ms: float = 120.0  # shorter bursts (clicks, taps) are ignored
    hangover_ms: float = 400.0  # quiet time that ends speech (pauses between words are shorter)
    floor_window_s: float = 2.0  # the noise floor is the quietest frame of this long a stretch


class NearEndDetector:
    """Speech start/stop decisions from microphone blocks.

    Args:
        config: thresholds.
        sample_rate: rate of the blocks, Hz.
    """

    def __init__(self, config: NearEndConfig | None = None, sample_rate: int = 24000) -> None:
        self.config = config or NearEndConfig()
        self.frame = int(sample_rate * FRAME_S)
        self.level_dbfs = -120.0  # level of the last frame
        self._levels = deque([-120.0], maxlen=max(1, round(self.config.floor_window_s / FRAME_S)))
        self.speaking = False
        self._pending = np.zeros(0, np.float32)
        self._loud_s = 0.0  # length of the current loud run
        self._quiet_s = 0.0  # length of the current quiet run

    def update(self, block: np.ndarray, is_echo: Callable[[], bool] | None = None) -> str | None:
        """Feed float32 samples; returns "started" or "stopped" when the decision changed in this block.

        `is_echo`, asked at most once per block and only when it holds loud frames, says whether that sound
        is the speaker's own (residual echo), which is not the user talking.
        """
        self._pending = np.concatenate([self._pending, np.asarray(block, np.float32)])
        event, echo = None, None
        while len(self._pending) >= self.frame:
            frame, self._pending = self._pending[: self.frame], self._pending[self.frame :]
            loud = self._loud(frame - frame.mean())
            if loud and is_echo is not None:
                echo = is_echo() if echo is None else echo
                loud = not echo
            event = self._decide(loud) or event
        return event

    def _loud(self, frame: np.ndarray) -> bool:
        """Level test of one DC-free frame, updating the noise floor."""
        c = self.config
        level = self.level_dbfs = rms_dbfs(frame)
        loud = level > max(c.threshold_dbfs, self.floor_dbfs + c.margin_db)
        self._levels.append(level)
        return loud

    @property
    def floor_dbfs(self) -> float:
        """The noise floor: the quietest recent frame (speech always has pauses, steady noise has none)."""
        return min(self._levels)

    def _decide(self, loud: bool) -> str | None:
        c = self.config
        self._loud_s = self._loud_s + FRAME_S if loud else 0.0
        self._quiet_s = 0.0 if loud else self._quiet_s + FRAME_S
        if not self.speaking and self._loud_s * 1000 >= c.min_speech_ms:
            self.speaking = True
            return "started"
        if self.speaking and self._quiet_s * 1000 >= c.hangover_ms:
            self.speaking = False
            return "stopped"
        return None
