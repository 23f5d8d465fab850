"""`hark train engine`: train the omni model, stage by stage, in one checkpoint format.

Stages (`--stage`), each starting from the previous one's weights with `--init`:
- `text`: the skills, from text dialogues generated on the fly in the audio dialogues' token layout
  (engine/data/text_dialogue.py; no dataset, no codec); only the two text streams are trained;
- `dialogue`: full-duplex spoken dialogues from a `hark data synth` dataset, with `--text-fraction` of
  the steps on text-only batches so the text skills are kept while audio learns.

AdamW with linear warm-up and cosine decay; one weighted cross-entropy per stream (monologue text and user
transcript with PAD targets down-weighted, as Moshi does; each audio codebook), plus the MoE balance and
router z-losses. Logs per-stream losses and expert usage, evaluates on the test split, and keeps a
resumable run folder:

    <out>/state/   config.json + model.safetensors (fp32) + optimizer.pt + state.json  (resume point)
    <out>/engine/  the latest engine checkpoint (bf16), loadable by `Engine.load`
    <out>/metrics.jsonl

Uses CUDA when available and DDP under `torchrun --nproc_per_node N -m app train engine ...`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler
from tqdm import tqdm

from engine.data.clock import CLOCK_STYLE
from engine.data.skills import parse_skill_weights
from engine.dataset import DialogueWindows, TextWindows, collate, read_info, read_manifest, silence_codes
from engine.eval.text_stage import evaluate_text_stage
from engine.model import IGNORE, PRESETS, OmniModel, load_balance_loss, router_z_loss
from engine.tokenizer import DEFAULT_PATH as DEFAULT_TOKENIZER
from engine.tokenizer import PAD_ID, TextTokenizer
from engine.weights import load_model, read_meta, save_checkpoint

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Settings of `hark train engine` (each field is a flag)."""

    stage: str = field(
        default="dialogue",
        metadata={
            "help": "text: skills from generated text dialogues; dialogue: the spoken dialogues of --data"
        },
    )
    data: str = field(default="data/engine", metadata={"help": "dataset folder from `hark data synth`"})
    out: str = field(default="runs/engine", metadata={"help": "run folder (resumed when it has a state)"})
    preset: str = field(default="cpu", metadata={"help": "model size: tiny, cpu or gpu"})
    init: str = field(
        default="",
        metadata={"help": "start from this engine checkpoint's weights (e.g. assets/engine), not random"},
    )
    steps: int = field(default=4000, metadata={"help": "optimizer steps in total"})
    minutes: float = field(
        default=0.0,
        metadata={
            "help": "training-time budget: the schedule ends at whichever of --steps and --minutes comes "
            "first (0: steps only)"
        },
    )
    batch_size: int = field(default=8, metadata={"help": "windows per step (per process)"})
    crop_steps: int = field(default=0, metadata={"help": "audio steps per window (0: the context window)"})
    lr: float = field(default=2e-3, metadata={"help": "peak learning rate"})
    min_lr_ratio: float = field(default=0.1, metadata={"help": "final lr as a fraction of the peak"})
    warmup: int = field(default=200, metadata={"help": "linear warm-up steps"})
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    dropout: float = field(
        default=0.1,
        metadata={"help": "residual dropout (against memorising the dialogues)"},
    )
    text_weight: float = 1.0
    user_text_weight: float = 0.5
    pad_weight: float = 0.5  # relative weight of PAD targets on the text streams
    audio_weights: list[float] = field(default_factory=lambda: [1.0, 0.5, 0.5, 0.5])
    aux_loss_coef: float = 0.01
    z_loss_coef: float = 0.001
    text_rate: float = field(
        default=1.0,
        metadata={
            "help": "text batches speak up to this many times faster at the start of the run (fewer steps "
            "per dialogue), falling to the true rate by the end"
        },
    )
    text_skill_weights: str = field(
        default="",
        metadata={
            "help": "skills' shares in the training text dialogues where not their own, e.g. "
            "date=0.18,timer=0.07 (the held-out evaluation keeps the skills' own shares)"
        },
    )
    text_fraction: float = field(
        default=0.0,
        metadata={
            "help": "share of the dialogue stage's steps trained on a text-only batch (keeps the skills)"
        },
    )
    log_every: int = 50
    eval_every: int = 500
    eval_batches: int = 8
    text_eval_dialogues: int = field(
        default=100,
        metadata={"help": "held-out text dialogues decoded at each evaluation (exact match; 0: none)"},
    )
    save_every: int = 500
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0: torch's default)"})
    workers: int = field(
        default=0, metadata={"help": "data loader processes (dialogue windows and text batches)"}
    )
    amp: bool = field(default=True, metadata={"help": "bf16 autocast (CPU with AVX512-BF16, or CUDA)"})
    seed: int = 0


def time_fraction(train_seconds: float, config: TrainConfig) -> float:
    """The share of `--minutes` used (0 without a time budget)."""
    return train_seconds / (config.minutes * 60) if config.minutes else 0.0


def lr_at(step: int, config: TrainConfig, used_time: float = 0.0) -> float:
    """Linear warm-up to `lr`, then cosine decay to `lr * min_lr_ratio` at `steps`, or earlier when the
    time budget's share `used_time` runs out first."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = min(1.0, max((step - config.warmup) / max(1, config.steps - config.warmup), used_time))
    return config.lr * (
        config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    )


def _weighted_ce(logits: torch.Tensor, targets: torch.Tensor, pad_weight: float | None) -> torch.Tensor:
    """Mean cross-entropy over non-IGNORE targets; PAD targets weigh `pad_weight` when given."""
    ce = F.cross_entropy(
        logits.flatten(0, -2).float(), targets.flatten(), ignore_index=IGNORE, reduction="none"
    )
    weights = (targets.flatten() != IGNORE).float()
    if pad_weight is not None:
        weights = weights * torch.where(targets.flatten() == PAD_ID, pad_weight, 1.0)
    return (ce * weights).sum() / weights.sum().clamp(min=1.0)


def compute_losses(
    logits, routings, batch: dict, config: TrainConfig, num_experts: int
) -> dict[str, torch.Tensor]:
    """Per-stream losses and the weighted total ("loss"); no audio losses when `logits.audio` is None (a
    text-only batch)."""
    losses = {
        "text": _weighted_ce(logits.text, batch["text"], config.pad_weight),
        "user_text": _weighted_ce(logits.user_text, batch["user_text"], config.pad_weight),
    }
    total = config.text_weight * losses["text"] + config.user_text_weight * losses["user_text"]
    if logits.audio is not None:
        for k in range(logits.audio.shape[2]):
            losses[f"audio{k}"] = _weighted_ce(logits.audio[:, :, k], batch["audio"][:, :, k], None)
        total = total + sum(w * losses[f"audio{k}"] for k, w in enumerate(config.audio_weights))
    if routings:
        losses["balance"] = torch.stack([load_balance_loss(r, num_experts) for r in routings]).mean()
        losses["z"] = torch.stack([router_z_loss(r) for r in routings]).mean()
        total = total + config.aux_loss_coef * losses["balance"] + config.z_loss_coef * losses["z"]
    losses["loss"] = total
    return losses


def is_text_step(step: int, config: TrainConfig) -> bool:
    """Whether optimizer step `step` trains on a text-only batch: every step of the text stage, and in the
    dialogue stage an evenly spread `text_fraction` of them (deterministic, so resuming keeps the mix)."""
    if config.stage == "text":
        return True
    f = config.text_fraction
    return math.floor((step + 1) * f) > math.floor(step * f)


def set_dropout(model: OmniModel, p: float) -> None:
    """Use residual dropout `p` from now on (also for a resumed or initialised model) and record it in the
    config the checkpoints are saved with."""
    model.config.dropout = p
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = p


def expert_usage(routings, num_experts: int) -> list[float]:
    """Fraction of assignments each expert got, averaged over MoE layers."""
    counts = sum(torch.bincount(r.choice.flatten(), minlength=num_experts).float() for r in routings)
    return (counts / counts.sum()).tolist()


STAGES = ("text", "dialogue")


class TextBatches(Dataset):
    """The text-only batches of a run, one item per optimizer step that trains on text, in step order,
    so that data loader processes can make them ahead of the training step."""

    def __init__(self, make: Callable[[int], dict], steps: list[int]):
        self.make, self.steps = make, steps

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, i: int) -> dict:
        return self.make(self.steps[i])


def check_config(config: TrainConfig) -> None:
    """Raise ValueError, before anything is loaded, for settings no run can use."""
    if config.stage not in STAGES:
        raise ValueError(f"unknown stage {config.stage!r}; choose one of {STAGES}")
    parse_skill_weights(config.text_skill_weights)


class Trainer:
    """One training run (one process of it under torchrun)."""

    def __init__(self, config: TrainConfig):
        check_config(config)
        self.config = config
        self.distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
        self.device = self._setup_device()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        self.out = Path(config.out)
        self.audio = config.stage != "text"
        self.trains_text = not self.audio or config.text_fraction > 0
        self.train_seconds = 0.0  # wall time spent in training steps (evaluations excluded), resumed too
        info = read_info(config.data) if self.audio else {}
        self.tokenizer_file = self._tokenizer_file(info)
        self.tokenizer = TextTokenizer.load(self.tokenizer_file)
        self.codec_id = info.get("codec_id")
        # datasets from before the field worded the clock in digits; the text stage as synth does now
        self.clock_context = info.get("clock_context", "digits") if self.audio else CLOCK_STYLE
        model = self._build_model(info)
        set_dropout(model, config.dropout)
        self.model_config = model.config
        self.model = model.to(self.device)
        self.ddp = (
            DistributedDataParallel(self.model, find_unused_parameters=True)
            if self.distributed
            else self.model
        )
        self.optimizer = self._optimizer()
        self.step = self._resume()
        crop = config.crop_steps or self.model_config.context_window
        if self.audio:
            self.train_set = DialogueWindows(
                config.data, "train", self.model_config, crop, True, config.seed + self.rank
            )
            self.test_set = DialogueWindows(config.data, "test", self.model_config, crop, False)
        weights = parse_skill_weights(config.text_skill_weights)
        self.text_train = TextWindows(
            "train", self.model_config, self.tokenizer, crop, config.seed, 0, weights
        )
        self.text_test = TextWindows("test", self.model_config, self.tokenizer, crop, config.seed)

    def _setup_device(self) -> torch.device:
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        if self.distributed:
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", 0))
            torch.cuda.set_device(local)
            return torch.device("cuda", local)
        return torch.device("cpu")

    def _tokenizer_file(self, info: dict) -> Path:
        """The dataset's tokenizer (its text streams were encoded with it), else the shipped one."""
        path = Path(info.get("tokenizer", ""))
        return path if path.is_file() else DEFAULT_TOKENIZER

    def _build_model(self, info: dict) -> OmniModel:
        state = self.out / "state"
        if (state / "model.safetensors").is_file():
            log.info("resuming from %s", state)
            return self._load_matching(state, info)
        if self.config.init:  # training continues from these weights with a fresh optimizer and schedule
            log.info("starting from the weights in %s", self.config.init)
            return self._load_matching(Path(self.config.init), info)
        if self.config.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.config.preset!r}; choose one of {sorted(PRESETS)}")
        preset = PRESETS[self.config.preset]
        cfg = dataclasses.replace(preset, text_vocab_size=self.tokenizer.vocab_size)
        if self.audio:
            cfg = dataclasses.replace(
                cfg, num_codebooks=info["K"], frames_per_step=info["G"], silence_codes=self._silence(info)
            )
        torch.manual_seed(self.config.seed)
        return OmniModel(cfg)

    def _silence(self, info: dict) -> list[int]:
        return silence_codes(self.config.data, read_manifest(self.config.data, "train"), info["K"])

    def _load_matching(self, folder: Path, info: dict) -> OmniModel:
        """The model saved in `folder` (fp32), refused unless it reads the dataset's codec tokens: the same
        K and G, and the same codec when both name one (a run's resume point does not). Weights that
        never heard a codec (the text stage's) take the dataset's silence codes."""
        model = load_model(folder, torch.float32)
        if not self.audio:
            return model
        codec = read_meta(folder).get("codec_id")
        if (model.config.num_codebooks, model.config.frames_per_step) != (info["K"], info["G"]) or (
            codec and self.codec_id and codec != self.codec_id
        ):
            raise ValueError(
                f"{folder} was trained on other codec tokens than {self.config.data} "
                f"(K={info['K']}, G={info['G']}, codec {self.codec_id}); "
                "synthesize the dataset with the codec it was trained on"
            )
        if not codec:
            model.config.silence_codes = self._silence(info)
        return model

    def _optimizer(self) -> torch.optim.AdamW:
        """AdamW; matrices decay, norms, sinks, embeddings and the router's scale-free bits do not."""
        decay, keep = [], []
        for name, p in self.model.named_parameters():
            (decay if p.dim() >= 2 and "embed" not in name and "table" not in name else keep).append(p)
        groups = [
            {"params": decay, "weight_decay": self.config.weight_decay},
            {"params": keep, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(
            groups, lr=self.config.lr, betas=(0.9, 0.95), fused=self.device.type == "cuda"
        )

    def _resume(self) -> int:
        state = self.out / "state"
        if not (state / "state.json").is_file():
            return 0
        self.optimizer.load_state_dict(torch.load(state / "optimizer.pt", map_location=self.device))
        saved = json.loads((state / "state.json").read_text())
        self.train_seconds = saved.get("train_seconds", 0.0)
        return saved["step"]

    def _autocast(self):
        enabled = self.config.amp and (self.device.type == "cuda" or torch.cpu._is_avx512_bf16_supported())
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def _forward(self, model, batch: dict, audio: bool):
        b = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        with self._autocast():
            logits, routings = model(
                b["prefix"], b["user"], b["text_in"], b["user_text_in"], b["asst_in"], audio=audio
            )
        return compute_losses(logits, routings, b, self.config, self.model_config.num_experts), routings

    def _loader(self, epoch: int) -> DataLoader:
        if self.distributed:
            sampler = DistributedSampler(self.train_set, seed=self.config.seed)
            sampler.set_epoch(epoch)
        else:
            sampler = RandomSampler(
                self.train_set, generator=torch.Generator().manual_seed(self.config.seed + epoch)
            )
        return DataLoader(
            self.train_set,
            batch_size=self.config.batch_size,
            sampler=sampler,
            collate_fn=collate,
            num_workers=self.config.workers,
            drop_last=len(self.train_set) >= self.config.batch_size,
        )

    def _audio_batches(self) -> Iterator[dict]:
        """The dialogue windows, epoch after epoch (resumed at the epoch the step falls in)."""
        epoch = self.step // max(1, len(self._loader(0)))
        while True:
            yield from self._loader(epoch)
            epoch += 1

    def _text_batch(self, windows: TextWindows, index: int, max_rate: float = 1.0) -> dict:
        """Text batch `index` of `windows`: its own dialogues for every step and process, all spoken at
        one rate drawn log-uniformly from [1, max_rate] (one rate a batch keeps its windows of similar
        length, so little of it is padding)."""
        size = self.config.batch_size
        first = (index * self.world + self.rank) * size
        rate = max_rate ** random.Random(f"rate/{self.config.seed}/{first}").random()
        return collate([windows.window(first + i, rate) for i in range(size)])

    def _text_rate(self, step: int) -> float:
        """Step `step`'s fastest speaking rate: `text_rate` at the start, the true rate at `--steps` (a
        function of the step alone, so that loader processes can make batches ahead)."""
        progress = min(1.0, step / max(1, self.config.steps))
        return self.config.text_rate ** (1.0 - progress)

    def _training_text_batch(self, step: int) -> dict:
        return self._text_batch(self.text_train, step, self._text_rate(step))

    def _text_batches(self) -> Iterator[dict]:
        """The text-only training batches from the current step on, made by `workers` processes."""
        steps = [s for s in range(self.step, self.config.steps) if is_text_step(s, self.config)]
        workers = self.config.workers
        yield from DataLoader(
            TextBatches(self._training_text_batch, steps),
            batch_size=None,
            num_workers=workers,
            prefetch_factor=4 if workers else None,
        )

    def _done(self) -> bool:
        """Whether the step budget or the time budget is used up."""
        return self.step >= self.config.steps or time_fraction(self.train_seconds, self.config) >= 1.0

    def run(self) -> Path:
        """Train to `config.steps`; returns the engine checkpoint folder."""
        config, is_main = self.config, self.rank == 0
        bar = tqdm(
            total=config.steps, initial=self.step, desc="train engine", unit="step", disable=not is_main
        )
        audio_batches = self._audio_batches() if self.audio else None
        text_batches = self._text_batches() if self.trains_text else None
        seen = 0
        while not self._done():
            started = time.time()
            text = is_text_step(self.step, config)
            batch = next(text_batches) if text else next(audio_batches)
            losses, routings = self._train_step(batch, audio=not text)
            self.train_seconds += time.time() - started
            seen += batch["user"].shape[0] * batch["user"].shape[1]
            self.step += 1
            bar.update()
            if is_main and self.step % config.log_every == 0:
                kind = "train_text" if text and self.audio else "train"
                self._log(kind, losses, routings, audio_steps_per_s=round(seen / self.train_seconds, 1))
                bar.set_postfix(loss=f"{losses['loss'].item():.3f}")
            done = self._done()
            if self.step % config.eval_every == 0 or done:
                self._evaluate(is_main)
            if is_main and (self.step % config.save_every == 0 or done):
                self._save()
        bar.close()
        if self.distributed:
            dist.destroy_process_group()
        return self.out / "engine"

    def _train_step(self, batch: dict, audio: bool):
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(self.step, self.config, time_fraction(self.train_seconds, self.config))
        self.ddp.train()
        losses, routings = self._forward(self.ddp, batch, audio)
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        return losses, routings

    @torch.no_grad()
    def _evaluate(self, is_main: bool) -> None:
        """Held-out losses (the first `eval_batches` test batches of each kind of data the stage trains
        on) and, on rank 0, the text stage's exact-match accuracy on held-out text dialogues."""
        self.model.eval()
        if self.audio:
            loader = DataLoader(self.test_set, batch_size=self.config.batch_size, collate_fn=collate)
            self.last_eval = self._mean_losses(loader, audio=True)
            if is_main:
                self._log("eval", self.last_eval, None)
        if self.trains_text:
            batches = (self._text_batch(self.text_test, i) for i in range(self.config.eval_batches))
            text_eval = self._mean_losses(batches, audio=False)
            if not self.audio:
                self.last_eval = text_eval
            if is_main:
                self._log("eval" if not self.audio else "eval_text", text_eval, None)
        self.last_eval_step = self.step
        if is_main and self.trains_text and self.config.text_eval_dialogues:
            report = evaluate_text_stage(self.model, self.tokenizer, self.config.text_eval_dialogues)
            self.last_text_accuracy = {k: v["accuracy"] for k, v in report["skills"].items()}
            minutes = round(self.train_seconds / 60, 3)
            self._log("text_accuracy", self.last_text_accuracy, None, train_minutes=minutes)

    def _mean_losses(self, batches, audio: bool) -> dict[str, float]:
        totals: dict[str, float] = {}
        n = 0
        for n, batch in enumerate(batches, start=1):
            losses, _ = self._forward(self.model, batch, audio)
            for key, value in losses.items():
                totals[key] = totals.get(key, 0.0) + value.item()
            if n >= self.config.eval_batches:
                break
        return {key: value / max(n, 1) for key, value in totals.items()}

    def _log(self, kind: str, losses: dict, routings, **extra) -> None:
        record = {
            "kind": kind,
            "step": self.step,
            **{k: round(float(v.detach() if torch.is_tensor(v) else v), 4) for k, v in losses.items()},
            **extra,
        }
        if routings:
            record["expert_usage"] = [
                round(u, 3) for u in expert_usage(routings, self.model_config.num_experts)
            ]
        log.info("%s", " ".join(f"{k}={v}" for k, v in record.items()))
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def _save(self) -> None:
        """Write the resume point, then the engine checkpoint (both replace older ones atomically enough)."""
        state = self.out / "state"
        save_checkpoint(self.model, state, self.tokenizer_file, dtype=torch.float32)
        torch.save(self.optimizer.state_dict(), state / "optimizer.pt")
        (state / "state.json").write_text(
            json.dumps(
                {
                    "step": self.step,
                    "train_seconds": round(self.train_seconds, 1),
                    "config": dataclasses.asdict(self.config),
                }
            )
            + "\n"
        )
        metrics = {"step": self.step, "stage": self.config.stage}
        if hasattr(self, "last_eval"):  # the held-out losses of the latest evaluation, maybe an earlier step
            metrics["eval_step"] = self.last_eval_step
            metrics.update({f"eval_{k}": round(v, 4) for k, v in self.last_eval.items()})
        if hasattr(self, "last_text_accuracy"):
            metrics["eval_text_stage"] = self.last_text_accuracy
        save_checkpoint(
            self.model,
            self.out / "engine",
            self.tokenizer_file,
            metrics=metrics,
            codec_id=self.codec_id,
            clock_context=self.clock_context,
        )


def train_engine(config: TrainConfig) -> Path:
    """Train (or resume) a run; returns the engine checkpoint folder."""
    Path(config.out).mkdir(parents=True, exist_ok=True)
    return Trainer(config).run()
