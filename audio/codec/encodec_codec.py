"""hark's speech codec, built on EnCodec: audio <-> K codebooks of codes per frame, streaming.

`Codec` implements `SpeechCodec` (audio/codec/protocol.py) by wrapping an `encodec.EncodecModel` (SEANet
encoder/decoder + residual vector quantizer). Its one-shot `encode`/`decode` and its streaming
`stream_encoder()`/`stream_decoder()` run the same streaming layers (audio/codec_streaming.py), so a
stream fed any whole number of frames per call gives bit-identical codes (and audio) to a one-shot encode
(decode). Both agree with the `encodec` model's own offline forward, computed with zero left padding, to
float rounding (see audio/codec_streaming.py for where a stream starts and why).

`load_codec()` finds trained weights (official `encodec_24khz` weights in the torch hub cache, else
hark's own checkpoint in assets/codec/, both read by audio/codec_checkpoint.py); `build_codec()` makes a
random codec for tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from audio import codec_checkpoint
from audio.codec_config import CodecConfig, build_model, num_codebooks
from audio.codec_streaming import StreamingLayer, compile_streaming, linear
from audio.encodec_compat import encodec


class Codec:
    """A loaded codec at one bitrate. Streams share its weights; use each stream from one thread at a time.

    The codec snapshots the model's weights when it is created; make a new `Codec` after changing them.

    Args:
        model: the `encodec` model (causal). It is moved to `device` (pass a copy to keep training one
            elsewhere); its train/eval mode is left alone. Its weights are copied, weight norm folded in.
        config: the model's configuration.
        kbps: bitrate; selects `num_codebooks` (3 kbps -> 4 at the defaults). None: `config.default_kbps`.
        device: torch device the streaming layers run on.
        checkpoint_sha256: identifies the weights file (None for a codec built in memory).

    `codes_id` identifies what decides the codes (`codec_checkpoint.codes_id`): data encoded with one
    codec is valid for every codec with the same `codes_id`, whatever their decoders.
    """

    def __init__(
        self,
        model: encodec.EncodecModel,
        config: CodecConfig,
        kbps: float | None = None,
        device: str | torch.device = "cpu",
        checkpoint_sha256: str | None = None,
    ) -> None:
        self.model = model
        self.config = config
        self.kbps = config.default_kbps if kbps is None else kbps
        self.num_codebooks = num_codebooks(config, self.kbps)
        self.sample_rate = config.sample_rate
        self.frame_size = config.frame_size
        self.frame_rate = config.frame_rate
        self.cardinality = config.bins
        self.device = torch.device(device)
        self.checkpoint_sha256 = checkpoint_sha256
        self.codes_id = codec_checkpoint.codes_id(model.state_dict())
        model.to(self.device)
        self._encoder = compile_streaming(model.encoder)
        self._decoder = compile_streaming(model.decoder)
        with torch.inference_mode():
            # [n_q, bins, dimension]; every codebook of the quantizer, used to encode and decode frames
            self._codebooks = torch.stack(
                [layer.codebook.detach().clone() for layer in model.quantizer.vq.layers]
            )
            self._norms = [book.t().pow(2).sum(0, keepdim=True) for book in self._codebooks]  # [1, bins] each

    def encode(self, wav: np.ndarray) -> np.ndarray:
        """One-shot encode: float32 [T] (T a multiple of `frame_size`) -> int64 codes [K, T // frame_size]."""
        return self.stream_encoder().encode(wav)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """One-shot decode: integer codes [K, F] (K <= the codec's codebooks) -> float32 [F * frame_size]."""
        return self.stream_decoder().decode(codes)

    def stream_encoder(self) -> StreamingEncoder:
        """A new streaming encoder (its own state; the weights are shared)."""
        return StreamingEncoder(self, self._encoder.fresh())

    def stream_decoder(self) -> StreamingDecoder:
        """A new streaming decoder (its own state; the weights are shared)."""
        return StreamingDecoder(self, self._decoder.fresh())

    def quantize(self, latent: torch.Tensor) -> torch.Tensor:
        """Residual vector quantization of latent frames [n, D] -> int64 codes [K, n]."""
        residual = latent
        codes = []
        for k in range(self.num_codebooks):
            codebook = self._codebooks[k]  # [bins, D]
            # encodec's EuclideanCodebook.quantize arithmetic (so rounding agrees with it), with the
            # codebook's squared norms precomputed and a row-padded product (see codec_streaming.linear).
            dist = -(residual.pow(2).sum(1, keepdim=True) - 2 * linear(residual, codebook) + self._norms[k])
            index = dist.max(dim=-1).indices  # [n]
            residual = residual - codebook[index]
            codes.append(index)
        return torch.stack(codes)

    def dequantize(self, codes: torch.Tensor) -> torch.Tensor:
        """Sum of the codebook vectors of codes [K, n] -> latent frames [n, D]."""
        latent = torch.tensor(0.0, device=codes.device)
        for k, index in enumerate(codes):
            latent = latent + self._codebooks[k][index]  # [n, D]
        return latent


class _Stream:
    """A codec's streaming layers with their own state (the weights are the codec's)."""

    def __init__(self, codec: Codec, layers: StreamingLayer) -> None:
        self.codec = codec
        self._layers = layers

    def reset(self) -> None:
        """Start a new stream (as if from silence)."""
        self._layers.reset()


class StreamingEncoder(_Stream):
    """Audio chunks in, codes out, carrying state between calls. Made by `Codec.stream_encoder()`."""

    def encode(self, pcm: np.ndarray) -> np.ndarray:
        """Encode the next chunk: float32 [n * frame_size] -> int64 codes [K, n] (n >= 0 whole frames)."""
        pcm = np.asarray(pcm)
        frame = self.codec.frame_size
        if pcm.ndim != 1 or pcm.shape[0] % frame:
            raise ValueError(
                f"codec input must be mono samples, a multiple of {frame} long; got shape {pcm.shape}"
            )
        n = pcm.shape[0] // frame
        if n == 0:
            return np.zeros((self.codec.num_codebooks, 0), dtype=np.int64)
        with torch.inference_mode():
            x = torch.from_numpy(pcm.astype(np.float32, copy=False)).to(self.codec.device)
            latent = self._layers(x.view(1, -1, 1))  # [1, n, D]
            return self.codec.quantize(latent[0]).cpu().numpy()


class StreamingDecoder(_Stream):
    """Codes in, audio chunks out, carrying state between calls. Made by `Codec.stream_decoder()`."""

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Decode the next chunk: integer codes [K, n] -> float32 [n * frame_size]."""
        codes = _check_codes(np.asarray(codes), self.codec)
        if codes.shape[1] == 0:
            return np.zeros(0, dtype=np.float32)
        with torch.inference_mode():
            index = torch.from_numpy(codes.astype(np.int64, copy=False)).to(self.codec.device)
            latent = self.codec.dequantize(index)  # [n, D]
            wav = self._layers(latent[None])  # [1, n * frame_size, 1]
            return wav.reshape(-1).cpu().numpy()


def _check_codes(codes: np.ndarray, codec: Codec) -> np.ndarray:
    n_q = codec.config.n_q
    if codes.ndim != 2 or not 1 <= codes.shape[0] <= n_q or not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(
            f"codes must be integers shaped [K, frames] with 1 <= K <= {n_q}; got {codes.dtype} {codes.shape}"
        )
    if codes.size and (codes.min() < 0 or codes.max() >= codec.cardinality):
        raise ValueError(f"codes must lie in [0, {codec.cardinality}); got {codes.min()}..{codes.max()}")
    return codes


def _varied_signal(config: CodecConfig, gen: torch.Generator) -> torch.Tensor:
    """Two seconds of seeded noise whose level sweeps over 50 dB, mixed with a tone gliding in pitch."""
    t = torch.arange(2 * config.sample_rate) / config.sample_rate
    level = 10 ** (-2.5 + 2.5 * (0.5 + 0.5 * torch.sin(2 * torch.pi * 1.3 * t)))
    glide = torch.sin(2 * torch.pi * (100 + 400 * t) * t)
    noise = torch.randn(t.shape, generator=gen)
    return (level * (noise + glide)).expand(1, config.channels, -1)  # [1, C, T]


def init_random_codebooks(model: encodec.EncodecModel, config: CodecConfig, seed: int = 0) -> None:
    """Give an untrained model usable codebooks, as k-means initialisation would: data points.

    Each stage's entries are latent frames (residuals, for later stages) of a varied seeded signal,
    jittered so that no two entries are equal (equal entries would make ties between codes).
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        residual = model.encoder(_varied_signal(config, gen))[0].t()  # [frames, D]
        for layer in model.quantizer.vq.layers:
            book = layer._codebook
            picks = torch.randint(0, residual.shape[0], (book.embed.shape[0],), generator=gen)
            jitter = 0.1 * residual.std(dim=0) * torch.randn(book.embed.shape, generator=gen)
            embed = residual[picks] + jitter  # [bins, D]
            book.embed.copy_(embed)
            book.embed_avg.copy_(embed)
            book.inited.fill_(1.0)
            residual = residual - embed[layer.encode(residual.t()[None])[0]]


def build_codec(config: CodecConfig, kbps: float | None = None, seed: int = 0) -> Codec:
    """A randomly initialised codec (random weights and codebooks, seeded) for tests before training."""
    torch.manual_seed(seed)
    model = build_model(config)
    model.eval()
    init_random_codebooks(model, config, seed)
    return Codec(model, config, kbps)


def load_codec(path: str | Path | None = None, kbps: float = 3.0, device: str = "cpu") -> Codec:
    """Load a trained codec; never downloads.

    Args:
        path: a hark checkpoint (`.safetensors` with its `.json`, or their folder) or official
            `encodec_24khz` weights (`.th`). None: official weights from the torch hub cache if present,
            else hark's checkpoint in assets/codec/.
        kbps: bitrate (1.5, 3 or 6 for hark's codec).
        device: torch device to run on.

    Raises:
        FileNotFoundError: no checkpoint at `path` (or, for None, at either default place); the message
            names the paths and how to make one (`hark train codec`).
    """
    model, config, sha = codec_checkpoint.load_model(path)
    return Codec(model, config, kbps, device, checkpoint_sha256=sha)
