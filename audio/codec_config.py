"""Configuration of the speech codec and the factory that builds its `encodec` model.

`CodecConfig` holds every architectural choice of a SEANet + residual-vector-quantizer codec from the
`encodec` package. Its field names are also the keys of the `"config"` object in a checkpoint's JSON, so
a checkpoint always carries what is needed to rebuild its model (`build_model(config_from_json(...))`).

The defaults are the official causal 24 kHz EnCodec layout (75 Hz frames of 320 samples, 1024-entry
codebooks) limited to 8 codebooks (6 kbps), with zero ("constant") padding at the causal convolutions'
left edge so that a stream can start from silence exactly like an offline encode (see
audio/codec_streaming.py). `official_24khz_config()` is the configuration of Meta's released
`encodec_24khz` weights.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from audio.encodec_compat import encodec

PAD_MODES = ("constant", "reflect")
DECODERS = ("seanet", "spectral")


@dataclass
class CodecConfig:
    """Architecture of a SEANet + RVQ codec (field names equal the checkpoint JSON keys).

    Attributes:
        sample_rate: audio sample rate in Hz.
        channels: audio channels (hark uses mono).
        n_filters: base width of the SEANet encoder/decoder; the width doubles at each of the
            len(ratios) down-sampling stages.
        ratios: up-sampling ratios of the decoder (the encoder uses them reversed); their product is the
            frame size in samples.
        dimension: size of the latent vector per frame (and of each codebook entry).
        n_residual_layers: residual blocks per SEANet stage.
        lstm_layers: LSTM layers at the bottleneck of encoder and decoder (0 disables them).
        bins: entries per codebook (a power of two).
        n_q: number of codebooks the quantizer holds (the highest bandwidth uses all of them).
        bandwidths: supported bitrates in kbps; each maps to `num_codebooks(config, kbps)` codebooks.
        default_kbps: bitrate used when none is given.
        causal: causal convolutions (no look-ahead), required for streaming.
        norm: convolution weight normalisation (`"weight_norm"` or `"none"`).
        pad_mode: how causal convolutions pad the left edge of the signal: `"constant"` (zeros; a
            stream started from silence equals an offline pass) or `"reflect"` (how the official
            weights were trained).
        decoder: `"seanet"` (encodec's, as in the official weights) or `"spectral"` (hark's frame-rate
            inverse-STFT decoder, audio/spectral_decoder.py).
        decoder_width: channels of the spectral decoder.
        decoder_blocks: ConvNeXt blocks of the spectral decoder.
    """

    sample_rate: int = 24000
    channels: int = 1
    n_filters: int = 32
    ratios: list[int] = field(default_factory=lambda: [8, 5, 4, 2])
    dimension: int = 128
    n_residual_layers: int = 1
    lstm_layers: int = 2
    bins: int = 1024
    n_q: int = 8
    bandwidths: list[float] = field(default_factory=lambda: [1.5, 3.0, 6.0])
    default_kbps: float = 3.0
    causal: bool = True
    norm: str = "weight_norm"
    pad_mode: str = "constant"
    decoder: str = "seanet"
    decoder_width: int = 256
    decoder_blocks: int = 8

    def __post_init__(self) -> None:
        if self.pad_mode not in PAD_MODES:
            raise ValueError(f"CodecConfig.pad_mode must be one of {PAD_MODES}, got {self.pad_mode!r}")
        if self.decoder not in DECODERS:
            raise ValueError(f"CodecConfig.decoder must be one of {DECODERS}, got {self.decoder!r}")
        if self.bins < 2 or self.bins & (self.bins - 1):
            raise ValueError(f"CodecConfig.bins must be a power of two, got {self.bins}")
        if self.sample_rate % self.frame_size:
            raise ValueError(
                f"CodecConfig.sample_rate ({self.sample_rate}) must be a multiple of prod(ratios) "
                f"({self.frame_size}) so that frames have a whole number of samples per second"
            )
        for kbps in [*self.bandwidths, self.default_kbps]:
            num_codebooks(self, kbps)  # raises on a bitrate the quantizer cannot serve

    @property
    def frame_size(self) -> int:
        """Samples per codec frame (the product of the ratios): 320 at the defaults."""
        return int(np.prod(self.ratios))

    @property
    def frame_rate(self) -> float:
        """Codec frames per second: 75.0 at the defaults."""
        return self.sample_rate / self.frame_size


def official_24khz_config() -> CodecConfig:
    """The configuration of Meta's released `encodec_24khz` weights (32 codebooks, reflect padding)."""
    return CodecConfig(n_q=32, bandwidths=[1.5, 3.0, 6.0, 12.0, 24.0], pad_mode="reflect")


def num_codebooks(config: CodecConfig, kbps: float) -> int:
    """Number of codebooks that a bitrate uses: kbps * 1000 / (frame_rate * log2(bins)), e.g. 3 kbps -> 4.

    Raises:
        ValueError: when the bitrate needs no whole codebook or more codebooks than the quantizer has.
    """
    bits_per_frame = config.frame_rate * math.log2(config.bins)
    # The small epsilon keeps 1.5 kbps -> exactly 2 despite float rounding.
    n = int(kbps * 1000 / bits_per_frame + 1e-9)
    if not 1 <= n <= config.n_q:
        raise ValueError(
            f"bitrate {kbps} kbps needs {n} codebooks but this codec has 1..{config.n_q} "
            f"({bits_per_frame / 1000:g} kbps each); choose one of {config.bandwidths}"
        )
    return n


def build_model(config: CodecConfig) -> encodec.EncodecModel:
    """Build a randomly initialised `encodec.EncodecModel` (SEANet encoder/decoder + RVQ) for `config`.

    The quantizer's codebooks start uninitialised (k-means on the first training batch); call
    `ResidualVectorQuantizer`'s forward in training mode, or load weights, before encoding real audio.
    """
    with warnings.catch_warnings():
        # encodec uses torch's older (hook-based) weight_norm, whose parameter names its checkpoints keep.
        warnings.filterwarnings("ignore", message=".*weight_norm.*is deprecated", category=FutureWarning)
        encoder = encodec.modules.SEANetEncoder(**_seanet_args(config))
    decoder = build_decoder(config)
    quantizer = encodec.quantization.ResidualVectorQuantizer(
        dimension=config.dimension, n_q=config.n_q, bins=config.bins
    )
    return encodec.EncodecModel(
        encoder,
        decoder,
        quantizer,
        target_bandwidths=list(config.bandwidths),
        sample_rate=config.sample_rate,
        channels=config.channels,
        normalize=False,
        segment=None,
        name="hark",
    )


def _seanet_args(config: CodecConfig) -> dict[str, Any]:
    return dict(
        channels=config.channels,
        dimension=config.dimension,
        n_filters=config.n_filters,
        n_residual_layers=config.n_residual_layers,
        ratios=list(config.ratios),
        norm=config.norm,
        causal=config.causal,
        pad_mode=config.pad_mode,
        lstm=config.lstm_layers,
    )


def build_decoder(config: CodecConfig) -> torch.nn.Module:
    """A randomly initialised decoder of the kind `config.decoder` names."""
    if config.decoder == "spectral":
        from audio.spectral_decoder import SpectralDecoder  # here: only spectral codecs need it

        return SpectralDecoder(
            config.dimension, config.frame_size, config.decoder_width, config.decoder_blocks
        )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*weight_norm.*is deprecated", category=FutureWarning)
        return encodec.modules.SEANetDecoder(**_seanet_args(config))


def config_to_json(config: CodecConfig) -> dict[str, Any]:
    """The JSON-ready mapping of `config` (keys are the field names)."""
    return dataclasses.asdict(config)


def config_from_json(data: dict[str, Any] | str) -> CodecConfig:
    """Rebuild a `CodecConfig` from `config_to_json`'s mapping (or its JSON text).

    Keys that are absent take the defaults; unknown keys are an error, since they mean the checkpoint
    was written by a different version of the codec.

    Raises:
        ValueError: on unknown keys or invalid values.
    """
    if isinstance(data, str):
        data = json.loads(data)
    if not isinstance(data, dict):
        raise ValueError(f"codec config must be a JSON object, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(CodecConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown codec config keys {unknown}; known keys are {sorted(known)}")
    values = dict(data)
    for key in ("ratios", "bandwidths"):
        if key in values:
            values[key] = list(values[key])
    return CodecConfig(**values)
