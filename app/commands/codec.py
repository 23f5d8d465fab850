"""`hark codec encode|decode|roundtrip|export`: turn WAV files into codec tokens (.npz) and back; write a
checkpoint copy for shipping.

An .npz of codes holds `codes` (int16 [K, frames]), `sample_rate`, `frame_rate`, `kbps`, `num_samples`
(the input length before padding to whole frames) and `codes_id` (which encoder and codebooks made them:
`Codec.codes_id`, docs/codec.md).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from app.runtime import HarkError, load_codec
from engine.model_spec import CODEC_SPEC_HELP

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `hark codec` and its actions."""
    parser = subparsers.add_parser(
        "codec", help="encode/decode audio with the streaming speech codec", description=__doc__
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    specs = [
        ("encode", "WAV file -> codes (.npz)", "IN.wav", "OUT.npz", _encode, True),
        ("decode", "codes (.npz) -> WAV file (24 kHz)", "IN.npz", "OUT.wav", _decode, False),
        (
            "roundtrip",
            "WAV file -> codes -> WAV file, streamed as in a live session",
            "IN.wav",
            "OUT.wav",
            _roundtrip,
            True,
        ),
    ]
    for name, help_text, source, target, func, has_kbps in specs:
        action = actions.add_parser(name, help=help_text, description=help_text)
        action.add_argument("input", metavar=source)
        action.add_argument("output", metavar=target)
        action.add_argument(
            "--codec",
            metavar="SPEC",
            help=f"{CODEC_SPEC_HELP}; a checkpoint is a .safetensors or its folder, or official .th weights "
            "(default: default, the official weights in the torch hub cache, else assets/codec/)",
        )
        if has_kbps:
            action.add_argument("--kbps", type=float, default=3.0, help="bitrate: 1.5, 3 or 6 (default: 3)")
        action.set_defaults(func=func)
    export = actions.add_parser(
        "export",
        help="copy a hark checkpoint for shipping (float16 halves it)",
        description="Copy a hark codec checkpoint (.safetensors + .json, metrics kept), e.g. to float16 "
        "for assets/codec/. The copy's codes_id differs from the float32 original's: encode the engine's "
        "data with the file that ships.",
    )
    export.add_argument("input", metavar="IN.safetensors")
    export.add_argument("output", metavar="OUT.safetensors")
    export.add_argument(
        "--dtype", default="float16", choices=["float16", "float32"], help="(default: float16)"
    )
    export.set_defaults(func=_export)


def _load(args: argparse.Namespace, kbps: float = 3.0):
    return load_codec(args.codec, kbps)


def _read_input(path: str, sample_rate: int) -> np.ndarray:
    """The WAV file's samples at the codec's rate (resampled when needed)."""
    from audio.resample import resample
    from audio.wavio import read_wav

    if not Path(path).is_file():
        raise HarkError(f"{path}: no such file")
    try:
        wav, rate = read_wav(path)
    except ValueError as e:
        raise HarkError(str(e)) from e
    if rate != sample_rate:
        log.info("resampling %s from %d Hz to %d Hz", path, rate, sample_rate)
        wav = resample(wav, rate, sample_rate)
    return wav


def _pad_to_frames(wav: np.ndarray, frame_size: int) -> np.ndarray:
    return np.pad(wav, (0, -len(wav) % frame_size))


def _encode(args: argparse.Namespace) -> int:
    codec = _load(args, args.kbps)
    wav = _read_input(args.input, codec.sample_rate)
    codes = codec.encode(_pad_to_frames(wav, codec.frame_size))
    np.savez(
        args.output,
        codes=codes.astype(np.int16),
        sample_rate=codec.sample_rate,
        frame_rate=codec.frame_rate,
        kbps=codec.kbps,
        num_samples=len(wav),
        codes_id=codec.codes_id,
    )
    print(f"{args.output}: {codes.shape[0]} codebooks x {codes.shape[1]} frames ({codec.kbps:g} kbps)")
    return 0


def _read_codes(path: str) -> tuple[np.ndarray, dict]:
    if not Path(path).is_file():
        raise HarkError(f"{path}: no such file")
    try:
        with np.load(path) as data:
            fields = {key: data[key] for key in data.files}
    except (ValueError, OSError) as e:
        raise HarkError(f"{path}: not an .npz of codes written by `hark codec encode` ({e})") from e
    if "codes" not in fields:
        raise HarkError(f"{path}: has no `codes` array; write it with `hark codec encode`")
    return fields.pop("codes"), fields


def _decode(args: argparse.Namespace) -> int:
    from audio.wavio import write_wav

    codes, fields = _read_codes(args.input)
    codec = _load(args)
    made_by = str(fields.get("codes_id", ""))
    if made_by and made_by != codec.codes_id:
        log.warning("%s holds codes %s but is decoded by codec %s", args.input, made_by, codec.codes_id)
    try:
        wav = codec.decode(codes)
    except ValueError as e:
        raise HarkError(f"{args.input}: {e}") from e
    if "num_samples" in fields:
        wav = wav[: int(fields["num_samples"])]
    write_wav(args.output, wav, codec.sample_rate)
    print(f"{args.output}: {len(wav) / codec.sample_rate:.2f} s at {codec.sample_rate} Hz")
    return 0


def _roundtrip(args: argparse.Namespace) -> int:
    from audio.wavio import write_wav

    codec = _load(args, args.kbps)
    wav = _read_input(args.input, codec.sample_rate)
    padded = _pad_to_frames(wav, codec.frame_size)
    encoder, decoder = codec.stream_encoder(), codec.stream_decoder()
    chunk = 4 * codec.frame_size  # the engine's step: 4 frames, 53 ms
    out = np.concatenate(
        [decoder.decode(encoder.encode(padded[i : i + chunk])) for i in range(0, len(padded), chunk)]
        or [padded[:0]]
    )[: len(wav)]
    write_wav(args.output, out, codec.sample_rate)
    seconds = len(wav) / codec.sample_rate
    rate = f"{codec.num_codebooks} codebooks, {codec.kbps:g} kbps"
    print(f"{args.output}: {seconds:.2f} s through {rate}; SNR {_snr_db(wav, out):.1f} dB")
    return 0


def _export(args: argparse.Namespace) -> int:
    from audio.codec_checkpoint import load_checkpoint, save_checkpoint

    try:
        model, config, meta = load_checkpoint(args.input)
    except (FileNotFoundError, ValueError) as e:
        raise HarkError(str(e)) from e
    written = save_checkpoint(
        model, args.output, config, meta.get("training_data", ""), meta.get("metrics"), args.dtype
    )
    size = Path(args.output).stat().st_size / 1e6
    print(f"{args.output}: {args.dtype}, {size:.1f} MB, sha256 {written['sha256'][:12]}")
    return 0


def _snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    noise = float(np.sum((reference - estimate) ** 2)) + 1e-12
    return 10 * np.log10((float(np.sum(reference**2)) + 1e-12) / noise)
