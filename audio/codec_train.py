"""Train hark's speech codec (`hark train codec`): the encodec package's SEANet encoder and RVQ with a
spectral (default) or SEANet decoder, on synthetic speech.

Losses: multi-scale mel (L1 on magnitudes and log magnitudes), waveform L1, 0.25 x the quantizer's
commitment loss and, with `--phone-weight`, the cross-entropy of a linear phone classifier reading the
first codebook's output: the labels come from the synthesizers (audio/phones.py), and the gradient reaches
the encoder through the quantizer's straight-through estimate, so the first codebook is pushed to carry
what was said whoever said it (the role distillation from an SSL teacher plays in Mimi and SpeechTokenizer,
and phone supervision in PAST).

Codebooks are k-means initialised on speech, residual by residual (or come with the `--init` weights),
then follow EMA updates (encodec's quantizer), with dead codes re-seeded. No adversarial loss yet: on 2
CPU cores every step counts. Each step trains one bitrate, drawn so the default (3 kbps) gets most of the
steps. The SEANet decoder learns far more slowly than the spectral one
(docs/codec.md, "What it is").

The run folder holds `train_state.pt` (model, phone head, optimizer, step, RNG: resumable) and
`codec.safetensors` (+ .json) exported at every evaluation; the phone head is for training only.

`--freeze-encoder` (with `--init`) trains the decoder alone: the encoder and codebooks, hence every code,
stay exactly those of the `--init` checkpoint. The engine's data is encoded once with a codec; a decoder
trained further afterwards improves the assistant's voice without invalidating the engine.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from audio.codec_checkpoint import load_checkpoint, save_checkpoint
from audio.codec_config import CodecConfig, build_decoder, build_model
from audio.codec_data import (
    FRAME_SIZE,
    SpeechPool,
    build_pool,
    eval_sentences,
    is_held_out,
    training_batch,
)
from audio.phones import NO_PHONE, PHONES, frame_labels, synthesize_with_phones
from audio.spectral import mel_distance, multiscale_mel_loss, si_snr
from audio.tts import (
    SAMPLE_RATE,
    Voice,
    voice_catalog,
)

log = logging.getLogger(__name__)


@dataclass
class CodecTrainConfig:
    """Settings of one codec training run (also the flags of `hark train codec`)."""

    out: str = field(default="runs/codec", metadata={"help": "run folder (resumed when it exists)"})
    data: str = field(default="data/codec", metadata={"help": "folder for the synthesized speech pool"})
    utterances: int = field(default=4000, metadata={"help": "sentences in the training pool"})
    steps: int = field(default=12000, metadata={"help": "total optimizer steps"})
    minutes: float = field(
        default=0.0,
        metadata={
            "help": "time budget; the schedule ends at whichever of "
            "steps and minutes comes first (0: no limit)"
        },
    )
    batch: int = field(default=8, metadata={"help": "clips per step"})
    seconds: float = field(default=0.64, metadata={"help": "clip length in seconds"})
    lr: float = field(default=3e-4, metadata={"help": "peak Adam learning rate"})
    eval_every: int = field(default=500, metadata={"help": "steps between evaluations and exports"})
    init: str = field(
        default="",
        metadata={"help": "start from this checkpoint's weights (e.g. the shipped codec) instead of k-means"},
    )
    kmeans_seconds: float = field(default=160.0, metadata={"help": "speech used to k-means the codebooks"})
    n_filters: int = field(default=16, metadata={"help": "SEANet base width (official EnCodec: 32)"})
    lstm_layers: int = field(default=2, metadata={"help": "bottleneck LSTM layers"})
    decoder: str = field(
        default="",
        metadata={
            "help": "decoder kind, spectral or seanet (default: the --init checkpoint's, else spectral, "
            "which learns far faster on a CPU: docs/codec.md); a kind other than --init's starts a new one"
        },
    )
    freeze_encoder: bool = field(
        default=False,
        metadata={"help": "train the decoder only: codes stay those of the --init checkpoint"},
    )
    phone_weight: float = field(
        default=1.0,
        metadata={
            "help": "weight of the first codebook's phone loss (0: none; ignored with --freeze-encoder)"
        },
    )
    seed: int = field(default=0, metadata={"help": "random seed"})
    threads: int = field(default=2, metadata={"help": "torch CPU threads"})
    workers: int = field(
        default=0,
        metadata={
            "help": "processes cropping and augmenting batches ahead of the training step (0: in the "
            "training process, from the resumable random state; a GPU needs several)"
        },
    )


# Bitrate drawn per step: the default 3 kbps most often, 1.5 and 6 kbps so they stay usable.
BITRATE_CHOICES = ([1.5, 3.0, 6.0], [0.2, 0.55, 0.25])


def learning_rate(peak: float, progress: float, warmup: float = 0.03) -> float:
    """Linear warm-up then cosine decay to 5% of `peak`, as a function of progress in [0, 1]."""
    if progress < warmup:
        return peak * progress / warmup
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))
    return peak * (0.05 + 0.95 * cosine)


def _eval_clips(folder: Path, count: int = 12) -> list[tuple[np.ndarray, np.ndarray]]:
    """Held-out sentences in held-out voices, with their frame phones, for the periodic evaluation;
    synthesized once and kept in `folder` (a machine without the synthesizers can train from it)."""
    path = folder / f"eval-clips-{count}.npz"
    if path.exists():
        saved = np.load(path)
        return [(saved[f"audio{i}"], saved[f"phones{i}"]) for i in range(count)]
    voices = [v for v in voice_catalog(speeds=(1.0,), pitches=(50,)) if is_held_out(v)]
    voices = [Voice("flite", "slt"), *voices[:: max(1, len(voices) // (count - 1))]][:count]
    clips = []
    for text, voice in zip(eval_sentences(count), voices, strict=False):
        speech = synthesize_with_phones(text, voice)
        frames = len(speech.samples) // FRAME_SIZE
        labels = frame_labels(speech.phones, frames, SAMPLE_RATE / FRAME_SIZE)
        clips.append((speech.samples[: frames * FRAME_SIZE], labels))
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {f"audio{i}": audio for i, (audio, _) in enumerate(clips)}
    arrays |= {f"phones{i}": labels for i, (_, labels) in enumerate(clips)}
    np.savez(path, **arrays)
    return clips


class PhoneHead(torch.nn.Module):
    """A linear phone classifier on the first codebook's output: whatever it predicts, code 1 carries."""

    def __init__(self, dimension: int):
        super().__init__()
        self.proj = torch.nn.Linear(dimension, len(PHONES))

    def forward(self, first: torch.Tensor) -> torch.Tensor:
        """First-codebook output [B, D, frames] -> phone logits [B, frames, len(PHONES)]."""
        return self.proj(first.transpose(1, 2))


def first_codebook_output(model, emb: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Codebook 1's vector for every frame [B, D, frames], carrying the straight-through gradient to the
    encoder's output `emb` as the quantizer itself does; `codes` [n_q, B, frames]."""
    quantized = model.quantizer.vq.layers[0].decode(codes[0])
    return emb + (quantized - emb).detach()


@torch.no_grad()
def evaluate(
    model,
    head: PhoneHead | None,
    config: CodecConfig,
    clips: list[tuple[np.ndarray, np.ndarray]],
    kbps: float,
) -> dict[str, float]:
    """Mel distance and SI-SNR of one-shot resynthesis at `kbps` over `clips` and, given a trained `head`,
    its phone accuracy on their speech frames (silence left out) from the first codebook alone."""
    modes = [(m, m.training) for m in model.modules()]  # restored after: the encoder may be frozen
    device = next(model.parameters()).device
    model.eval()
    model.set_target_bandwidth(kbps)
    mels, snrs, right, total = [], [], 0, 0
    for clip, phones in clips:
        x = torch.from_numpy(clip).view(1, 1, -1).to(device)
        emb = model.encoder(x)
        codes = model.quantizer.encode(emb, config.frame_rate, kbps)
        y = model.decoder(model.quantizer.decode(codes))[0, 0].cpu().numpy()
        mels.append(mel_distance(clip, y))
        snrs.append(si_snr(clip, y))
        if head is None:
            continue
        predicted = head(first_codebook_output(model, emb, codes))[0].argmax(-1).cpu().numpy()
        frames = min(len(predicted), len(phones))
        speech = phones[:frames] > 0  # neither silence nor unknown
        right += int((predicted[:frames][speech] == phones[:frames][speech]).sum())
        total += int(speech.sum())
    for module, training in modes:
        module.train(training)
    metrics = {"mel_distance": float(np.mean(mels)), "si_snr_db": float(np.mean(snrs))}
    if head is not None:
        metrics["phone_accuracy"] = right / max(1, total)
    return metrics


def _train_mode(model, freeze_encoder: bool) -> None:
    """Training mode, except for a frozen encoder and quantizer (eval mode: no EMA codebook updates)."""
    model.train()
    if freeze_encoder:
        model.encoder.eval()
        model.quantizer.eval()


def _loss(
    model,
    head: PhoneHead,
    batch: tuple[torch.Tensor, torch.Tensor],
    kbps: float,
    config: CodecConfig,
    phone_weight: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    x, phones = batch
    with torch.set_grad_enabled(model.encoder.training):
        emb = model.encoder(x)  # [B, D, frames]
        q = model.quantizer(emb, config.frame_rate, kbps)
    y = model.decoder(q.quantized)[..., : x.shape[-1]]  # [B, 1, T]
    mel = multiscale_mel_loss(x[:, 0], y[:, 0])
    wave = (x - y).abs().mean()
    commit = q.penalty.mean()
    loss = mel + 0.1 * wave + 0.25 * commit
    parts = {"mel": mel.item(), "wave": wave.item(), "commit": commit.item()}
    if phone_weight and model.encoder.training:
        logits = head(first_codebook_output(model, emb, q.codes))
        frames = min(logits.shape[1], phones.shape[1])
        phone = torch.nn.functional.cross_entropy(
            logits[:, :frames].flatten(0, 1), phones[:, :frames].flatten(), ignore_index=NO_PHONE
        )
        loss = loss + phone_weight * phone
        parts["phone"] = phone.item()
    return loss, parts


def _kmeans(samples: torch.Tensor, k: int, iters: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain k-means on [N, D] samples; returns (means [k, D], cluster sizes [k]).

    Distances use ||x||^2 - 2 x.c + ||c||^2 (one matmul), unlike encodec's init, which materialises an
    [N, k, D] difference tensor (gigabytes for a useful N).
    """
    n = len(samples)
    # Fewer samples than codes (tiny test runs): start from repeats; unused repeats keep their value.
    start = torch.randperm(n)[:k] if n >= k else torch.randint(0, n, (k,))
    means = samples[start].clone()
    for _ in range(iters):
        dists = (samples**2).sum(1, keepdim=True) - 2 * samples @ means.T + (means**2).sum(1)  # [N, k]
        nearest = dists.argmin(1)
        counts = torch.bincount(nearest, minlength=k)
        sums = torch.zeros_like(means).index_add_(0, nearest, samples)
        means = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], means)
    return means, counts.float()


@torch.no_grad()
def _kmeans_init(
    model, pool: SpeechPool, config: CodecConfig, seconds: float, rng: np.random.Generator
) -> None:
    """Initialise every codebook by k-means on `seconds` of speech, residual by residual."""
    clips = max(1, round(seconds / 4))
    x, _ = training_batch(pool, clips, config.sample_rate * 4, rng)
    residual = (
        model.encoder(x.to(next(model.parameters()).device)).transpose(1, 2).reshape(-1, config.dimension)
    )  # [B * frames, D]
    for layer in model.quantizer.vq.layers:
        means, counts = _kmeans(residual, config.bins)
        codebook = layer._codebook
        codebook.embed.copy_(means)
        codebook.embed_avg.copy_(means)
        codebook.cluster_size.copy_(counts)
        codebook.inited.fill_(1.0)
        residual = residual - means[layer.encode(residual.T[None]).reshape(-1)]


def train_codec(cfg: CodecTrainConfig) -> Path:
    """Run (or resume) codec training; returns the exported checkpoint's path."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if cfg.freeze_encoder and not cfg.init:
        raise ValueError("--freeze-encoder needs --init CHECKPOINT: the codec whose codes to keep")
    if cfg.init:
        model, config, init_meta = load_checkpoint(cfg.init)
        if cfg.decoder and cfg.decoder != config.decoder:
            config = replace(config, decoder=cfg.decoder)
            model.decoder = build_decoder(config)
    else:
        config = CodecConfig(
            n_filters=cfg.n_filters, lstm_layers=cfg.lstm_layers, decoder=cfg.decoder or "spectral"
        )
        model, init_meta = build_model(config), None
    if config.frame_size != FRAME_SIZE:
        raise ValueError(
            f"the pool's phones are per {FRAME_SIZE} samples; this codec's frames are {config.frame_size}"
        )
    model, head = model.to(device), PhoneHead(config.dimension).to(device)
    _train_mode(model, cfg.freeze_encoder)
    trained = (
        list(model.decoder.parameters()) if cfg.freeze_encoder else [*model.parameters(), *head.parameters()]
    )
    opt = torch.optim.Adam(trained, lr=cfg.lr, betas=(0.9, 0.999))
    pool = build_pool(Path(cfg.data), cfg.utterances, cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    state_path, step, elapsed = out / "train_state.pt", 0, 0.0
    if state_path.exists():
        state = torch.load(state_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        head.load_state_dict(state["phone_head"])
        opt.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["rng"]
        step, elapsed = state["step"], state["elapsed_s"]
        log.info("resumed %s at step %d", state_path, step)
    elif not cfg.init:
        _kmeans_init(model, pool, config, cfg.kmeans_seconds, rng)
    clips = _eval_clips(Path(cfg.data))
    history_path = out / "history.jsonl"
    length = int(cfg.seconds * config.sample_rate) // config.frame_size * config.frame_size
    bar = tqdm(total=cfg.steps, initial=step, desc="codec", dynamic_ncols=True)
    # On a shared CPU the step rate varies several-fold, so the schedule follows whichever budget (steps or
    # wall time) runs out first: the learning rate still anneals when the machine turns out slower.
    t0 = time.time() - elapsed
    progress = _progress(cfg, step, time.time() - t0)
    batches = _batches(cfg, pool, length, rng, step)
    while progress < 1.0:
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg.lr, progress)
        kbps = float(rng.choice(BITRATE_CHOICES[0], p=BITRATE_CHOICES[1]))
        x, phones = next(batches)
        loss, parts = _loss(model, head, (x.to(device), phones.to(device)), kbps, config, cfg.phone_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        step += 1
        elapsed = time.time() - t0
        progress = _progress(cfg, step, elapsed)
        bar.update(1)
        bar.set_postfix(mel=f"{parts['mel']:.3f}", commit=f"{parts['commit']:.3f}", kbps=kbps)
        if step % cfg.eval_every == 0 or progress >= 1.0:
            trained_head = head if cfg.phone_weight and not cfg.freeze_encoder else None
            metrics = evaluate(model, trained_head, config, clips, config.default_kbps)
            record = {
                "step": step,
                "elapsed_s": round(elapsed),
                "lr": opt.param_groups[0]["lr"],
                **parts,
                **metrics,
            }
            log.info("eval %s", record)
            with history_path.open("a") as f:
                f.write(json.dumps(record) + "\n")
            torch.save(
                {
                    "model": model.state_dict(),
                    "phone_head": head.state_dict(),
                    "optimizer": opt.state_dict(),
                    "rng": rng.bit_generator.state,
                    "step": step,
                    "elapsed_s": elapsed,
                },
                state_path,
            )
            save_checkpoint(
                model.cpu(),
                out / "codec.safetensors",
                config,
                _data_description(cfg, step, init_meta),
                {"step": step, "heldout_3kbps": metrics},
            )
            model.to(device)
    bar.close()
    return out / "codec.safetensors"


class _BatchStream(torch.utils.data.IterableDataset):
    """Endless training batches made by a loader process, from a random state of its own: (seed, the
    step the run started at, the process's index)."""

    def __init__(self, pool: SpeechPool, batch: int, length: int, seed: int, step: int):
        self.pool, self.batch, self.length, self.seed, self.step = pool, batch, length, seed, step

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, self.step, worker.id if worker else 0])
        while True:
            yield training_batch(self.pool, self.batch, self.length, rng)


def _batches(cfg: CodecTrainConfig, pool: SpeechPool, length: int, rng: np.random.Generator, step: int):
    """Training batches: from `rng` in this process (resumable), or from `cfg.workers` loader processes."""
    if not cfg.workers:
        while True:
            yield training_batch(pool, cfg.batch, length, rng)
    stream = _BatchStream(pool, cfg.batch, length, cfg.seed, step)
    yield from torch.utils.data.DataLoader(
        stream, batch_size=None, num_workers=cfg.workers, prefetch_factor=4
    )


def _progress(cfg: CodecTrainConfig, step: int, elapsed: float) -> float:
    """Fraction of the run done: the larger of the step budget and the time budget used."""
    return max(step / cfg.steps, elapsed / (cfg.minutes * 60) if cfg.minutes else 0.0)


def _data_description(cfg: CodecTrainConfig, step: int, init_meta: dict | None) -> dict:
    """What the checkpoint was trained on; a warm start nests the `--init` checkpoint's own description
    under "init", so the JSON keeps the whole lineage of a codec trained in stages."""
    description = {
        "pool": f"{cfg.utterances} grammar sentences (audio.sentences, seed {cfg.seed + 1}), each in a "
        "training speaker of audio/speakers.py (generated espeak-ng variants, espeak-ng, flite, festival, "
        "SVOX Pico, Piper), with frame phones from espeak-ng, flite and festival (audio/phones.py)",
        "held_out": "flite slt; espeak-ng variants klatt3, Lee, f4 and accent en-029; sentences of seed 999",
        "augmentation": "half of clips: formants and pitch scaled x0.8-1.3 (resampling); 70% of clips: room "
        "reverb (RT60 0.1-0.6 s), band-pass, noise (SNR 15-45 dB), level",
        "steps": step,
        "train_config": asdict(cfg),
        "losses": "multi-scale mel L1 + log-mel L1, 0.1 x waveform L1, 0.25 x commitment; EMA codebooks"
        + (f"; {cfg.phone_weight} x first-codebook phone cross-entropy" if cfg.phone_weight else ""),
    }
    if init_meta is not None:
        description["init"] = {
            "checkpoint": cfg.init,
            "sha256": init_meta.get("sha256"),
            "training_data": init_meta.get("training_data"),
            "metrics": init_meta.get("metrics"),
        }
    return description
