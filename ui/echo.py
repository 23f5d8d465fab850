"""Acoustic echo cancellation: remove the assistant's own voice (speaker -> room -> microphone) from the mic.

`EchoCanceller` wraps WebRTC's AEC3 as livekit's `rtc.AudioProcessingModule` ships it (a self-contained
wheel, no system library). AEC3 works on 10 ms frames of 16-bit PCM: every frame the speaker played goes in
as the *reverse* (far-end) stream, every microphone frame as the *capture* stream, and the capture frame
comes back with the echo removed while a person talking near the microphone is kept. It estimates the
speaker -> microphone delay itself; `delay_ms` is only its starting hint. The high-pass filter is on
because AEC3 expects DC-free capture audio (and an untrained codec's output carries DC).

The caller keeps the two streams on one clock: per microphone block it feeds what the speaker put out
meanwhile (`read_output` of the sink: the speaker's own timeline, gaps included), then the block itself.
"""

from __future__ import annotations

import logging

import numpy as np

from audio.levels import align

log = logging.getLogger(__name__)

ERLE_MEMORY_FRAMES = 200  # the echo-reduction estimate averages over about the last 2 s of echo
ECHO_TAIL_FRAMES = 30  # capture frames up to 300 ms after far-end sound may hold its echo
MAX_ECHO_DELAY_S = 0.4  # longest speaker -> microphone delay ResidualEcho looks for

INSTALL_HINT = "pip install livekit (it is in pyproject.toml; `make setup` installs it), or use --no-aec"


class EchoCancellerError(RuntimeError):
    """livekit's audio processing is not installed or refused the stream; the message says what to do."""


def _to_pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


class EchoCanceller:
    """One microphone/speaker pair's AEC state (not thread-safe: call from one thread).

    Args:
        sample_rate: rate of both streams, Hz (AEC3 takes 8, 16, 24, 32 or 48 kHz).
        delay_ms: first guess of the speaker -> microphone delay (output + input device latency).
    """

    def __init__(self, sample_rate: int = 24000, delay_ms: int = 0) -> None:
        try:
            from livekit import rtc
        except ImportError as e:
            raise EchoCancellerError(f"echo cancellation needs livekit ({e}); {INSTALL_HINT}") from e
        self._rtc = rtc
        self._apm = rtc.AudioProcessingModule(echo_cancellation=True, high_pass_filter=True)
        self._apm.set_stream_delay_ms(max(0, int(delay_ms)))
        self.sample_rate = sample_rate
        self.frame = sample_rate // 100  # samples per 10 ms frame
        self._render = np.zeros(0, np.float32)  # reverse samples not yet a whole frame
        self._capture = np.zeros(0, np.float32)
        self._since_far = ECHO_TAIL_FRAMES  # capture frames since the last far-end frame with sound
        self._energy_in = self._energy_out = 0.0  # decaying sums over frames that may hold echo

    @property
    def echo_reduction_db(self) -> float | None:
        """Capture energy in / out while the speaker was sounding, dB (None before any echo was seen).

        It measures echo return loss enhancement while only the assistant talks; near-end speech lowers it.
        """
        if self._energy_out <= 0.0:
            return None
        return float(10 * np.log10(max(self._energy_in, 1e-20) / self._energy_out))

    def render(self, played: np.ndarray) -> None:
        """Feed float32 [n] samples the speaker has just played (any n; whole frames are processed now)."""
        self._render = np.concatenate([self._render, np.asarray(played, np.float32)])
        whole = len(self._render) // self.frame * self.frame
        for start in range(0, whole, self.frame):
            samples = self._render[start : start + self.frame]
            if np.any(samples):
                self._since_far = 0
            self._apm.process_reverse_stream(self._frame(samples))
        self._render = self._render[whole:]

    def capture(self, mic: np.ndarray) -> np.ndarray:
        """Feed float32 [n] microphone samples; returns the echo-cancelled samples of the whole frames so far.

        With blocks that are a multiple of 10 ms (hark's 20 ms blocks) the output has the input's length.
        """
        self._capture = np.concatenate([self._capture, np.asarray(mic, np.float32)])
        whole = len(self._capture) // self.frame * self.frame
        out = np.empty(whole, np.float32)
        for start in range(0, whole, self.frame):
            samples = self._capture[start : start + self.frame]
            frame = self._frame(samples)
            self._apm.process_stream(frame)
            out[start : start + self.frame] = np.frombuffer(frame.data, np.int16) / 32768.0
            self._measure(samples, out[start : start + self.frame])
        self._capture = self._capture[whole:]
        return out

    def _measure(self, mic: np.ndarray, clean: np.ndarray) -> None:
        self._since_far += 1
        if self._since_far > ECHO_TAIL_FRAMES:
            return
        decay = 1.0 - 1.0 / ERLE_MEMORY_FRAMES
        ac = mic - mic.mean()  # the canceller's high-pass filter removes DC, which is not echo
        self._energy_in = decay * self._energy_in + float(np.dot(ac, ac))
        self._energy_out = decay * self._energy_out + float(np.dot(clean, clean)) + 1e-12

    def _frame(self, samples: np.ndarray):
        return self._rtc.AudioFrame(bytearray(_to_pcm16(samples)), self.sample_rate, 1, self.frame)


class ResidualEcho:
    """Is the sound left after cancellation the speaker's own? (an echo likelihood, as WebRTC's detector has)

    Keeps the last `MAX_ECHO_DELAY_S` + `window_s` of the speaker reference and the last `window_s` of the
    cleaned microphone; the microphone window is echo when it matches some stretch of the reference with a
    normalized correlation of at least `threshold`. A person talking does not match the assistant's voice.

    Args:
        sample_rate: rate of both streams, Hz.
        window_s: length of the microphone stretch compared.
        threshold: correlation from which the stretch counts as echo.
    """

    def __init__(self, sample_rate: int = 24000, window_s: float = 0.1, threshold: float = 0.5) -> None:
        self.window = int(window_s * sample_rate)
        self.threshold = threshold
        self._history = int((MAX_ECHO_DELAY_S + window_s) * sample_rate)
        self._reference = np.zeros(self._history, np.float32)
        self._mic = np.zeros(self.window, np.float32)
        self.correlation = 0.0  # of the last check

    def add(self, reference: np.ndarray, mic: np.ndarray) -> None:
        """Append what the speaker played and the cleaned microphone block of the same stretch of time."""
        self._reference = np.concatenate([self._reference, reference])[-self._history :]
        self._mic = np.concatenate([self._mic, mic])[-self.window :]

    def likely(self) -> bool:
        """The recent microphone sound matches the speaker's recent output."""
        mic = self._mic - self._mic.mean()
        reference = self._reference - self._reference.mean()
        if not np.any(mic) or not np.any(reference):
            self.correlation = 0.0
            return False
        self.correlation = align(mic, reference).correlation
        return self.correlation >= self.threshold
