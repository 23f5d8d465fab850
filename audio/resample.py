"""Sample-rate conversion between integer rates: streaming for live devices, one-shot for files.

One polyphase low-pass FIR filter (a Kaiser-windowed sinc, as `scipy.signal.resample_poly` designs it) serves
both, so a stream cut into any chunk sizes gives exactly the one-shot result, only delayed by `delay` output
samples (in a stream the filter cannot look ahead). numpy only: importing scipy.signal costs over a second,
which `hark devices` should not pay.
"""

from __future__ import annotations

from math import gcd

import numpy as np

ZERO_CROSSINGS = 10  # half the filter length, in periods of the lower rate (resample_poly's choice)
KAISER_BETA = 5.0
ONE_SHOT_CHUNK = 1 << 16  # input samples per step of `resample`, bounding its temporary memory


def _lowpass(num_taps: int, cutoff: float) -> np.ndarray:
    """Kaiser-windowed sinc with unit DC gain; `cutoff` is a fraction of the Nyquist frequency."""
    n = np.arange(num_taps) - (num_taps - 1) / 2
    h = cutoff * np.sinc(cutoff * n) * np.kaiser(num_taps, KAISER_BETA)
    return h / h.sum()


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample a whole signal (float [T]) from `rate_in` to `rate_out` Hz; float32 [ceil(T * out / in)],
    aligned with the input (no delay)."""
    x = np.asarray(samples, dtype=np.float32)
    resampler = StreamResampler(rate_in, rate_out)
    if resampler.up == resampler.down:
        return x.copy()
    length = -(-len(x) * resampler.up // resampler.down)
    # Zeros after the end let the filter's look-back reach the last samples.
    needed = (resampler.delay + length - 1) * resampler.down // resampler.up + 1
    x = np.concatenate([x, np.zeros(max(0, needed - len(x)), dtype=np.float32)])
    out = [resampler.process(x[i : i + ONE_SHOT_CHUNK]) for i in range(0, len(x), ONE_SHOT_CHUNK)]
    return np.concatenate(out)[resampler.delay : resampler.delay + length]


class StreamResampler:
    """Resamples a stream of float32 chunks of any length, keeping the filter history between calls.

    Args:
        rate_in: sample rate of the chunks given to `process`, in Hz.
        rate_out: sample rate of what `process` returns, in Hz.

    Attributes:
        delay: output samples by which the stream lags the one-shot `resample` of the same signal.
    """

    def __init__(self, rate_in: int, rate_out: int) -> None:
        g = gcd(rate_in, rate_out)
        self.up, self.down = rate_out // g, rate_in // g
        self.delay, self.taps = 0, 1
        if self.up == self.down:  # identity: `process` passes chunks through
            self.reset()
            return
        half_len = ZERO_CROSSINGS * max(self.up, self.down)
        h = _lowpass(2 * half_len + 1, 1.0 / max(self.up, self.down)) * self.up
        # Leading zeros make the group delay a whole number of output samples (as resample_poly does).
        pre = (self.down - half_len % self.down) % self.down
        self.delay = (half_len + pre) // self.down
        self.taps = -(-(len(h) + pre) // self.up)  # filter taps per polyphase branch, in input samples
        padded = np.zeros(self.taps * self.up)
        padded[pre : pre + len(h)] = h
        # Branch p holds h[p], h[p + up], h[p + 2 up], ...: the taps that meet input samples at phase p.
        self._branches = padded.reshape(self.taps, self.up).T.astype(np.float32)  # [up, taps]
        self.reset()

    def reset(self) -> None:
        """Forget all history: the next chunk starts a new stream."""
        self._history = np.zeros(self.taps - 1, dtype=np.float32)
        self._consumed = 0  # input samples seen so far
        self._produced = 0  # output samples returned so far

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Feed float32 [n] input samples; returns every output sample they complete, float32 [m]."""
        if self.up == self.down:
            return np.asarray(chunk, dtype=np.float32)
        buf = np.concatenate([self._history, np.asarray(chunk, dtype=np.float32)])
        first_input = self._consumed - (self.taps - 1)  # stream index of buf[0]
        self._consumed += len(chunk)
        # Output n sits at position n*down of the upsampled stream: input n*down//up, branch n*down%up.
        end = -(-self._consumed * self.up // self.down)
        pos = np.arange(self._produced, end, dtype=np.int64) * self.down
        newest = pos // self.up - first_input  # [m] index in buf of the newest input each output needs
        window = buf[newest[:, None] - np.arange(self.taps)]  # [m, taps]
        out = np.einsum("mt,mt->m", window, self._branches[pos % self.up])
        self._produced = end
        if self.taps > 1:
            self._history = buf[len(buf) - (self.taps - 1) :]
        return out.astype(np.float32)
