"""Voice activity detection: silero-vad speech probabilities on a 24 kHz stream, and speech segments.

`SileroVad` holds the model that the `silero_vad` wheel ships (no download) and runs it functionally, with
the recurrent state and the 64-sample context kept per stream in `VadStream`, so one loaded model serves
every session and streams can be stepped from any thread. silero runs at 16 kHz on windows of 512
samples (32 ms); a stream resamples its 24 kHz input and returns one probability per completed window.

`SpeechSegmenter` turns probabilities into speech start/stop decisions with the knobs of the OpenAI
Realtime `server_vad` (threshold, prefix padding, silence duration) plus a minimum speech duration:
speech must last `min_speech_ms` before it counts, so short blips (a cough, a click) start nothing.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from audio.resample import StreamResampler

VAD_RATE = 16000
WINDOW = 512  # samples per silero window at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window that silero prepends to each window
WINDOW_MS = 1000 * WINDOW / VAD_RATE
EXIT_MARGIN = 0.15  # speech continues while the probability stays above threshold - margin (hysteresis)


class SileroVad:
    """The silero-vad model, loaded once and shared by all streams (its calls keep no state)."""

    def __init__(self) -> None:
        threads = torch.get_num_threads()
        from silero_vad import load_silero_vad  # on first use: it loads a model

        # importing silero_vad sets torch to one thread for the whole process; keep the caller's setting
        torch.set_num_threads(threads)
        with warnings.catch_warnings():  # its loader uses APIs that torch and importlib now deprecate
            warnings.simplefilter("ignore", DeprecationWarning)
            self._model = load_silero_vad()._model  # 16 kHz network: (x [B, 64 + 512], state) -> (p, state)

    def stream(self) -> VadStream:
        """A new stream starting from silence."""
        return VadStream(self)

    def run(self, windows: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [1, CONTEXT + WINDOW] float32 at 16 kHz, state [2, 1, 128] -> (probability [1, 1], state)."""
        with torch.inference_mode():
            return self._model(windows, state)


class VadStream:
    """One audio stream's VAD state: resampler, window buffer, recurrent state. Not thread-safe."""

    def __init__(self, vad: SileroVad) -> None:
        self._vad = vad
        self._resampler = StreamResampler(24000, VAD_RATE)
        self._pending = np.zeros(0, np.float32)  # 16 kHz samples not yet in a window
        self._context = torch.zeros(1, CONTEXT)
        self._state = torch.zeros(2, 1, 128)

    def process(self, pcm: np.ndarray) -> list[float]:
        """Feed float32 24 kHz samples [n]; returns the speech probability of each 32 ms window completed."""
        self._pending = np.concatenate([self._pending, self._resampler.process(pcm)])
        probs = []
        while len(self._pending) >= WINDOW:
            window = torch.from_numpy(self._pending[:WINDOW].copy())[None]  # [1, WINDOW]
            self._pending = self._pending[WINDOW:]
            out, self._state = self._vad.run(torch.cat([self._context, window], dim=1), self._state)
            self._context = window[:, -CONTEXT:]
            probs.append(float(out))
        return probs


@dataclass
class SegmenterConfig:
    """Speech segmentation settings (the Realtime API's server_vad fields plus `min_speech_ms`)."""

    threshold: float = 0.5  # speech probability that starts speech
    prefix_padding_ms: int = 300  # reported speech start is this much before the detected onset
    silence_duration_ms: int = 500  # quiet time that ends speech
    min_speech_ms: int = 100  # speech shorter than this is a blip: no start is reported


@dataclass
class SpeechEvent:
    """A segmenter decision; times are on the stream's timeline in milliseconds."""

    kind: str  # "started" or "stopped"
    audio_ms: int  # started: onset minus prefix padding (>= 0); stopped: end of the last speech window
    delay_ms: float = 0.0  # audio between the onset (started) / the last speech (stopped) and the decision


class SpeechSegmenter:
    """Speech start/stop decisions from a sequence of (probability, duration) observations."""

    def __init__(self, config: SegmenterConfig) -> None:
        self.config = config
        self.now_ms = 0.0  # end of the last observation
        self.speaking = False
        self._run_start: float | None = None  # onset of the current above-threshold run
        self._last_voiced = 0.0  # end of the last observation that counted as speech

    @property
    def onset_pending(self) -> bool:
        """Speech is heard but has not lasted `min_speech_ms` yet: a start may follow, or it was a blip."""
        return not self.speaking and self._run_start is not None

    def voiced_within(self, ms: float) -> bool:
        """Speech is in progress and was heard in the last `ms`, not only in the silence hangover."""
        return self.speaking and self.now_ms - self._last_voiced < ms

    def update(self, probability: float, duration_ms: float = WINDOW_MS) -> SpeechEvent | None:
        """Observe `duration_ms` of audio with this speech probability; returns a decision or None."""
        c = self.config
        start, self.now_ms = self.now_ms, self.now_ms + duration_ms
        if not self.speaking:
            if probability < c.threshold:
                self._run_start = None
                return None
            self._run_start = start if self._run_start is None else self._run_start
            if self.now_ms - self._run_start < c.min_speech_ms:
                return None
            self.speaking, self._last_voiced = True, self.now_ms
            onset = self._run_start
            return SpeechEvent("started", int(max(0.0, onset - c.prefix_padding_ms)), self.now_ms - onset)
        if probability >= c.threshold - EXIT_MARGIN:
            self._last_voiced = self.now_ms
            return None
        if self.now_ms - self._last_voiced < c.silence_duration_ms:
            return None
        self.speaking, self._run_start = False, None
        return SpeechEvent("stopped", int(self._last_voiced), self.now_ms - self._last_voiced)

    def reset(self) -> None:
        """Forget any speech in progress (the timeline keeps running)."""
        self.speaking, self._run_start = False, None
