"""Stateful streaming versions of the `encodec` SEANet layers, built from a model's weights.

The `encodec` package only runs whole signals: `SConv1d` pads every call, `SConvTranspose1d` trims its
overlap away and `SLSTM` drops its hidden state. `compile_streaming(module)` walks an encoder or decoder
and returns a tree of small layers that run the same weights chunk by chunk, carrying between calls:

* a causal convolution's input history (the last `P = (kernel - 1) * dilation - (stride - 1)` samples),
* a transposed convolution's overlap tail (its last `kernel - stride` output samples, without bias),
* each LSTM's (h, c).

Stream start (the padding arithmetic). Offline, a causal `SConv1d` left-pads its input with P samples.
A stream starts with a history of P zeros, which is exactly offline padding with zeros
(`pad_mode="constant"`, hark's configuration). Kernel 4, stride 2 (P = 2), chunks of 4 samples:

    offline:  0 0 | x0 x1 x2 x3 x4 x5 x6 x7        windows start every 2 samples:
              [0 0 x0 x1] [x0 x1 x2 x3] [x2 x3 x4 x5] [x4 x5 x6 x7]
    stream:   call 1: history [0 0]  + x0..x3 -> windows 1, 2; keeps [x2 x3]
              call 2: history [x2 x3] + x4..x7 -> windows 3, 4; keeps [x6 x7]

Every layer's chunk length is a multiple of its stride because chunks are whole codec frames, so
offline needs no right padding either and both produce the same windows.

Transposed convolution (kernel 4, stride 2): each input sample spreads over 4 outputs; offline trims the
last `kernel - stride` = 2 outputs. Streaming emits the first 2 * n outputs of a call and keeps the
remaining 2 (partial sums) to add to the next call's first outputs; the bias is added once, on output.

Reflect-padded models (the official weights were trained with `pad_mode="reflect"`, which mirrors
*future* samples into the left padding and so cannot be streamed) are streamed the same way, from zero
history. Their streaming output equals their offline output with every `SConv1d.pad_mode` set to
`"constant"`; that, not the reflect forward, is the offline reference. Started in the middle of
speech, the two differ in the first ~100 ms only (the LSTM keeps a fading trace; docs/codec.md); a live
stream starts from silence, where they agree.

Exactness. A stream fed any whole number of frames per call gives bit-identical codes and audio to
one call with the whole signal (at the same torch thread count), because every matrix product is made
chunking-invariant (see `linear`). Against the `encodec` model's own forward (other kernels) latents
and audio agree to float rounding (~1e-7), which can still flip a code that is nearly tied.

The layers snapshot the weights when built (weight norm folded into plain weights, which is exact);
rebuild after changing the model. They run in `torch.inference_mode()` on time-major `[B, T, C]`
tensors, and every convolution is one matrix product against `[T, C]` rows: with the few time steps of
a streaming chunk, that layout is several times faster on the CPU than torch's channel-major
convolution kernels (docs/codec.md, "Streaming").
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.weight_norm import WeightNorm

from audio.encodec_compat import encodec

_m = encodec.modules
# Parameter-free layers that act on each sample on its own, so they need no streaming state.
_POINTWISE = (nn.ELU, nn.Tanh, nn.Identity, nn.ReLU, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Sigmoid)


# The CPU matrix product (MKL) picks its kernel, and so its rounding, by the number of rows, and rounds
# strided inputs differently. Feeding it contiguous rows, padded to a multiple of ROWS_PER_THREAD per
# thread, keeps each output row independent of how many frames a call carries, so codes do not depend on
# the chunking (one ulp of difference can flip a code that is nearly tied between two codebook entries).
# How many rows that takes depends on the CPU's kernels; 16 is the most any machine so far needed
# (docs/codec.md, "Streaming").
ROWS_PER_THREAD = 16


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """`F.linear` over the last dim of x [..., K] -> [..., N], chunking-invariant (see above)."""
    rows = x.reshape(-1, x.shape[-1]).contiguous()  # [M, K]
    count = rows.shape[0]
    quantum = ROWS_PER_THREAD * torch.get_num_threads()
    if count % quantum:
        rows = F.pad(rows, (0, 0, 0, quantum - count % quantum))
    return F.linear(rows, weight, bias)[:count].reshape(*x.shape[:-1], -1)


class StreamingLayer:
    """Base of the streaming layers: call with a chunk, `reset()` to restart, `fresh()` to copy."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget the carried state: the next call starts a new stream."""

    def fresh(self) -> StreamingLayer:
        """A new layer with the same (shared) weights and its own empty state."""
        clone = copy.copy(self)
        clone.reset()
        return clone


def _folded_weight(conv: nn.Module) -> torch.Tensor:
    """The effective weight of `conv` as its forward computes it (weight norm folded in), detached."""
    for hook in conv._forward_pre_hooks.values():
        if isinstance(hook, WeightNorm):
            return hook.compute_weight(conv).detach().clone()
    return conv.weight.detach().clone()


def _check_plain_norm(wrapper: nn.Module, name: str) -> None:
    if not isinstance(wrapper.norm, nn.Identity) or wrapper.norm_type not in ("none", "weight_norm"):
        raise ValueError(f"{name}: norm {wrapper.norm_type!r} cannot stream; use 'weight_norm' or 'none'")


class StreamingConv1d(StreamingLayer):
    """A causal `SConv1d` that keeps the last P input samples (see the module docstring)."""

    def __init__(self, module: nn.Module) -> None:
        if not module.causal:
            raise ValueError("only causal SConv1d layers can stream; build the codec with causal=True")
        _check_plain_norm(module.conv, "SConv1d")
        conv = module.conv.conv
        if conv.groups != 1:
            raise ValueError("grouped SConv1d layers are not supported")
        weight = _folded_weight(conv)  # [C_out, C_in, k]
        self.kernel, self.stride, self.dilation = weight.shape[-1], conv.stride[0], conv.dilation[0]
        # Rows of the input window, time-major ([k, C_in] flattened), against one output channel per row.
        self.matrix = weight.permute(0, 2, 1).reshape(weight.shape[0], -1).contiguous()  # [C_out, k * C_in]
        self.bias = None if conv.bias is None else conv.bias.detach().clone()
        self.history_len = (self.kernel - 1) * self.dilation - (self.stride - 1)
        if self.history_len < 0:
            raise ValueError(f"SConv1d with kernel {self.kernel} < stride {self.stride} is not supported")
        self.history: torch.Tensor | None = None

    def reset(self) -> None:
        self.history = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, T, C_in] with T a multiple of the stride -> [B, T // stride, C_out]
        if self.history_len:
            if self.history is None:
                self.history = x.new_zeros(x.shape[0], self.history_len, x.shape[2])
            x = torch.cat([self.history, x], dim=1)  # [B, P + T, C_in]
            self.history = x[:, -self.history_len :]
        x = x.contiguous()
        batch, length, channels = x.shape
        steps = (length - self.history_len - 1) // self.stride + 1
        # windows: [B, T // stride, k, C_in], a strided view of x (no copy until the reshape)
        windows = x.as_strided(
            (batch, steps, self.kernel, channels),
            (x.stride(0), self.stride * channels, self.dilation * channels, 1),
        )
        return linear(windows.reshape(batch, steps, -1), self.matrix, self.bias)


class StreamingConvTranspose1d(StreamingLayer):
    """A causal `SConvTranspose1d` that carries its last `kernel - stride` partial outputs.

    Computed as one matrix product plus an overlap-add of stride-sized blocks of output.
    """

    def __init__(self, module: nn.Module) -> None:
        if not module.causal or module.trim_right_ratio != 1.0:
            raise ValueError("only causal SConvTranspose1d layers with trim_right_ratio=1 can stream")
        _check_plain_norm(module.convtr, "SConvTranspose1d")
        conv = module.convtr.convtr
        weight = _folded_weight(conv)  # [C_in, C_out, k]
        self.c_out, kernel = weight.shape[1:]
        self.stride = conv.stride[0]
        self.blocks = -(-kernel // self.stride)  # L: output blocks of `stride` samples each input touches
        weight = F.pad(weight, (0, self.blocks * self.stride - kernel))  # [C_in, C_out, L * s]
        # One row per (block, offset, output channel), matching the time-major output layout.
        self.matrix = (
            weight.permute(2, 1, 0).reshape(-1, weight.shape[0]).contiguous()
        )  # [L * s * C_out, C_in]
        self.bias = conv.bias.detach().clone() if conv.bias is not None else torch.zeros(self.c_out)
        self.tail: torch.Tensor | None = None

    def reset(self) -> None:
        self.tail = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, T, C_in] -> [B, T * s, C_out]
        batch, steps, _ = x.shape
        s, L = self.stride, self.blocks
        cols = linear(x, self.matrix).view(batch, steps, L, s, self.c_out)
        y = x.new_zeros(batch, steps + L - 1, s, self.c_out)  # output blocks; the last L - 1 are partial
        for block in range(L):
            y[:, block : block + steps] += cols[:, :, block]
        if self.tail is not None:
            y[:, : L - 1] += self.tail
        self.tail = y[:, steps:]  # [B, L - 1, s, C_out], completed by the next call
        return y[:, :steps].reshape(batch, steps * s, self.c_out) + self.bias


class StreamingLSTM(StreamingLayer):
    """An `SLSTM` (LSTM with a skip connection) that carries (h, c) across calls.

    The recurrence is written out (one input projection per layer for the whole chunk, then one small
    matrix product per step): torch's fused CPU LSTM costs several milliseconds per call on the
    few-step sequences a stream feeds it.
    """

    def __init__(self, module: nn.Module) -> None:
        lstm = module.lstm
        if lstm.bidirectional or lstm.proj_size or not lstm.bias or lstm.batch_first:
            raise ValueError("only the plain unidirectional LSTM of encodec's SLSTM can stream")
        self.skip = module.skip
        self.hidden = lstm.hidden_size
        self.weights = []  # per layer: W_ih [4H, C], W_hh [4H, H], b_ih + b_hh [4H]
        for k in range(lstm.num_layers):
            w_ih, w_hh = getattr(lstm, f"weight_ih_l{k}").detach(), getattr(lstm, f"weight_hh_l{k}").detach()
            bias = getattr(lstm, f"bias_ih_l{k}").detach() + getattr(lstm, f"bias_hh_l{k}").detach()
            self.weights.append((w_ih.clone(), w_hh.clone(), bias))
        self.state: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    def reset(self) -> None:
        self.state = None

    def __call__(self, seq: torch.Tensor) -> torch.Tensor:
        # seq: [B, T, C] -> [B, T, C]
        if self.state is None:
            zeros = seq.new_zeros(seq.shape[0], self.hidden)
            self.state = [(zeros, zeros)] * len(self.weights)
        y = seq
        for k, weights in enumerate(self.weights):
            y, self.state[k] = _lstm_layer(y, *weights, *self.state[k])
        return y + seq if self.skip else y


def _lstm_layer(
    seq: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    bias: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """One LSTM layer over seq [B, T, C] from state (h, c) [B, H]; returns ([B, T, H], (h, c))."""
    batch, steps, _ = seq.shape
    gates_in = linear(seq, w_ih, bias)  # [B, T, 4H]
    outputs = []
    for t in range(steps):
        # Always B rows, whatever the chunk, so the plain product is chunking-invariant here.
        gates = gates_in[:, t] + F.linear(h, w_hh)  # [B, 4H]: torch's order input, forget, cell, output
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs, dim=1), (h, c)


class Pointwise(StreamingLayer):
    """A stateless per-sample layer (activation), shared as is."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


class Sequence(StreamingLayer):
    """Streaming layers applied one after the other."""

    def __init__(self, layers: list[StreamingLayer]) -> None:
        self.layers = layers

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def reset(self) -> None:
        for layer in self.layers:
            layer.reset()

    def fresh(self) -> Sequence:
        return Sequence([layer.fresh() for layer in self.layers])


class Residual(StreamingLayer):
    """A SEANet residual block: `shortcut(x) + block(x)`, both branches streaming."""

    def __init__(self, block: StreamingLayer, shortcut: StreamingLayer) -> None:
        self.block, self.shortcut = block, shortcut

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.block(x)

    def reset(self) -> None:
        self.block.reset()
        self.shortcut.reset()

    def fresh(self) -> Residual:
        return Residual(self.block.fresh(), self.shortcut.fresh())


def _compile_sequential(module: nn.Module) -> StreamingLayer:
    return Sequence([compile_streaming(child) for child in module])


def _compile_seanet(module: nn.Module) -> StreamingLayer:
    return compile_streaming(module.model)


def _compile_resblock(module: nn.Module) -> StreamingLayer:
    return Residual(compile_streaming(module.block), compile_streaming(module.shortcut))


# Exact module types (not subclasses: a subclass may change forward) -> streaming builder.
_BUILDERS: dict[type, Callable[[nn.Module], StreamingLayer]] = {
    nn.Sequential: _compile_sequential,
    _m.SEANetEncoder: _compile_seanet,
    _m.SEANetDecoder: _compile_seanet,
    _m.seanet.SEANetResnetBlock: _compile_resblock,
    _m.SConv1d: StreamingConv1d,
    _m.SConvTranspose1d: StreamingConvTranspose1d,
    _m.SLSTM: StreamingLSTM,
    **{kind: Pointwise for kind in _POINTWISE},
}


def compile_streaming(module: nn.Module) -> StreamingLayer:
    """Build the streaming equivalent of an `encodec` SEANet encoder/decoder (or any of its parts).

    Raises:
        TypeError: for a layer type that has no streaming version.
        ValueError: for a non-causal or otherwise unstreamable configuration.
    """
    builder = _BUILDERS.get(type(module))
    if builder is None and hasattr(module, "streaming"):  # hark's own decoders build their own stream
        return module.streaming()
    if builder is None:
        raise TypeError(f"no streaming version of {type(module).__name__}")
    with torch.inference_mode():
        return builder(module)
