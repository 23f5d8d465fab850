"""A frame-rate codec decoder: ConvNeXt blocks at 75 Hz, then a causal inverse STFT (the Vocos idea).

Why: the SEANet decoder builds the waveform through up-sampling convolutions at up to 24 kHz and must
learn phase and harmonics from scratch; trained on CPU it stayed unintelligible long after the quantizer
had stopped costing anything (docs/codec.md), so the decoder was the bottleneck. This
decoder does all its work at the frame rate and predicts, per frame, a log magnitude and a phase for each
bin of a 2-frame FFT; an inverse FFT and overlap-add make the audio. Trained on the same frozen codes it
passed the SEANet decoder's quality within minutes. Its arithmetic is small (all at 75 Hz), yet a
streaming call is no faster than SEANet's, because per-op overhead dominates at this size.

Causal overlap-add: frame t's window spans samples [t, t + 2) in frames (hop = one codec frame, n_fft = two),
so the audio of frame t is the second half of window t - 1 plus the first half of window t, complete as
soon as latent t arrives: no look-ahead, no added latency. The stream carries each causal convolution's
last `kernel - 1` input frames and the second half of the last window.

One code path (`SpectralDecoder.run`) serves training (with gradients), one-shot decoding and streaming:
a stream is `run` with carried state, a one-shot decode is `run` from zero state, so they agree. Matrix
products go through `codec_streaming.linear`, which keeps each row's rounding independent of the chunk.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from audio.codec_streaming import StreamingLayer, linear

State = dict[str, torch.Tensor]


def _causal_windows(x: torch.Tensor, history: torch.Tensor, kernel: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x [B, T, C] after `history` [B, kernel - 1, C] -> (windows [B, T, kernel, C], new history)."""
    full = torch.cat([history, x], dim=1)  # [B, kernel - 1 + T, C]
    windows = full.unfold(1, kernel, 1).transpose(2, 3)  # [B, T, kernel, C]
    return windows, full[:, full.shape[1] - (kernel - 1) :]


class ConvNeXtBlock(nn.Module):
    """Causal depthwise convolution over frames, LayerNorm, a GELU MLP, scaled residual."""

    def __init__(self, width: int, kernel: int = 7, expansion: int = 3):
        super().__init__()
        self.kernel = kernel
        self.depthwise = nn.Parameter(torch.randn(kernel, width) / kernel)  # [k, C], one filter per channel
        self.depthwise_bias = nn.Parameter(torch.zeros(width))
        self.norm = nn.LayerNorm(width)
        self.up = nn.Linear(width, expansion * width)
        self.down = nn.Linear(expansion * width, width)
        self.scale = nn.Parameter(torch.full((width,), 0.1))  # small residual branches train stably

    def run(self, x: torch.Tensor, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, T, C] -> (y [B, T, C], history to carry)."""
        windows, history = _causal_windows(x, history, self.kernel)
        h = (windows * self.depthwise).sum(2) + self.depthwise_bias
        h = linear(
            F.gelu(linear(self.norm(h), self.up.weight, self.up.bias)), self.down.weight, self.down.bias
        )
        return x + h * self.scale, history


class SpectralDecoder(nn.Module):
    """Latent frames [B, D, F] -> audio [B, 1, F * hop] (the interface of encodec's SEANetDecoder).

    Args:
        dimension: latent size per frame (the quantizer's dimension).
        hop: samples per frame (the codec's frame size); the FFT spans two frames.
        width: channels of the ConvNeXt blocks.
        blocks: number of ConvNeXt blocks.
        kernel: frames seen by each block's depthwise convolution (and 3 by the input convolution).
    """

    def __init__(
        self, dimension: int = 128, hop: int = 320, width: int = 256, blocks: int = 8, kernel: int = 7
    ):
        super().__init__()
        self.dimension, self.hop, self.n_fft, self.input_kernel = dimension, hop, 2 * hop, 3
        self.inp = nn.Linear(self.input_kernel * dimension, width)  # a causal kernel-3 convolution
        self.blocks = nn.ModuleList(ConvNeXtBlock(width, kernel) for _ in range(blocks))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, self.n_fft + 2)  # log magnitude and phase of n_fft / 2 + 1 bins
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def initial_state(self, batch: int, like: torch.Tensor) -> State:
        """Zero state: a stream that starts from silence."""
        state = {"input": like.new_zeros(batch, self.input_kernel - 1, self.dimension)}
        for i, block in enumerate(self.blocks):
            state[f"block{i}"] = like.new_zeros(batch, block.kernel - 1, block.depthwise.shape[1])
        state["tail"] = like.new_zeros(batch, self.hop)
        return state

    def run(self, latent: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Latent frames [B, T, D] (time-major) -> (audio [B, T * hop], the state after them)."""
        new: State = {}
        windows, new["input"] = _causal_windows(latent, state["input"], self.input_kernel)
        h = linear(windows.flatten(2), self.inp.weight, self.inp.bias)
        for i, block in enumerate(self.blocks):
            h, new[f"block{i}"] = block.run(h, state[f"block{i}"])
        log_magnitude, phase = linear(self.norm(h), self.head.weight, self.head.bias).chunk(2, dim=-1)
        spectrum = torch.polar(torch.exp(log_magnitude.clamp(max=6.0)), phase)  # clamp: no overflow early on
        frames = torch.fft.irfft(spectrum, n=self.n_fft) * self.window  # [B, T, n_fft]
        first, second = frames[..., : self.hop], frames[..., self.hop :]
        previous = torch.cat([state["tail"][:, None], second[:, :-1]], dim=1)  # window t - 1's second half
        new["tail"] = second[:, -1]
        return (first + previous).flatten(1), new

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """Whole-signal decode from silence: latent [B, D, F] -> audio [B, 1, F * hop]."""
        x = latent.transpose(1, 2)
        audio, _ = self.run(x, self.initial_state(x.shape[0], x))
        return audio[:, None]

    def streaming(self) -> StreamingSpectralDecoder:
        """A stream over a snapshot of the current weights (as `codec_streaming.compile_streaming`)."""
        snapshot = copy.deepcopy(self).eval().requires_grad_(False)
        return StreamingSpectralDecoder(snapshot)


class StreamingSpectralDecoder(StreamingLayer):
    """Streams a SpectralDecoder: latent [B, T, D] chunks -> audio [B, T * hop, 1], state carried."""

    def __init__(self, module: SpectralDecoder) -> None:
        self.module = module
        self.state: State | None = None

    def reset(self) -> None:
        self.state = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.state is None:
            self.state = self.module.initial_state(x.shape[0], x)
        audio, self.state = self.module.run(x, self.state)
        return audio[..., None]
