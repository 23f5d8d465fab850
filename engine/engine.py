"""The streaming engine: the model, its tokenizer and a pool of session caches; one batched step over any
set of sessions, each at its own position.

Driving it: every 53 ms chunk of user audio (K codebooks x G frames from the streaming codec encoder)
goes in through `Engine.step`, one StepOutput per session comes out; its `audio_codes` is a whole
assistant chunk for the streaming codec decoder (the codebook delays are undone here, which costs one
step of latency: the chunk emitted at step t is chunk t - max(audio_delays)).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from audio.codec_config import CodecConfig
from engine.controls import Control, InjectContext, Reset, Silence, StartTurn, Truncate, UserTurnEnded
from engine.kv_cache import CacheState, KVCachePool, Segment
from engine.model import PRESETS, OmniModel
from engine.sampling import SamplingConfig, greedy_text, sample
from engine.session import EngineSession, StepOutput
from engine.tokenizer import DEFAULT_PATH, PAD_ID, SPECIAL_IDS, TextTokenizer
from engine.weights import DEFAULT_DIR, TOKENIZER_FILE, check_tokenizer, load_model, read_provenance

log = logging.getLogger(__name__)

# Neither ModelConfig nor checkpoint.json records the codec's frame rate: every engine so far read the
# codes of a codec with the default geometry, declared once in CodecConfig.
CODEC_FRAME_RATE = CodecConfig().frame_rate

__all__ = ["Engine", "EngineSession", "SamplingConfig", "StepOutput", "resolve_dtype"]


def resolve_dtype(dtype: str) -> torch.dtype:
    """Map a dtype name to torch. "auto": bfloat16 on a CUDA device that has it, float32 on the CPU.

    On the CPU bf16 weights pay off only for big batches (`hark bench engine`, docs/engine.md), so a
    server that batches many sessions asks for `--dtype bfloat16` explicitly."""
    names = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
    }
    if dtype in names:
        return names[dtype]
    if dtype != "auto":
        raise ValueError(f"dtype must be auto, float32 or bfloat16, got {dtype!r}")
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


class Engine:
    """Model + tokenizer + session cache pool.

    Args:
        model: an OmniModel (its dtype and device are used for the caches too).
        tokenizer: the TextTokenizer the model was trained with.
        codec_id: the codec whose tokens the model was trained on (a prefix of its weights' sha256, or
            "random<seed>-..." for the random codec); None when unknown (untrained engines).
        clock_context: how the model's training data worded the clock in the text context ("spoken" or
            "digits", see `engine.data.clock.Clock.context`); sessions should be given the same.
    """

    def __init__(
        self,
        model: OmniModel,
        tokenizer: TextTokenizer,
        codec_id: str | None = None,
        clock_context: str = "spoken",
    ):
        cfg = model.config
        if tokenizer.vocab_size > cfg.text_vocab_size:
            raise ValueError(
                f"tokenizer has {tokenizer.vocab_size} ids, the model only {cfg.text_vocab_size}"
            )
        self.model = model.eval()
        self.config = cfg
        self.tokenizer = tokenizer
        self.codec_id = codec_id
        self.clock_context = clock_context
        self.num_codebooks = cfg.num_codebooks
        self.frames_per_step = cfg.frames_per_step
        self.step_seconds = cfg.frames_per_step / CODEC_FRAME_RATE
        self.dtype = model.text_head.weight.dtype
        self.device = model.text_head.weight.device
        self.cache = KVCachePool(model, self.dtype)

    @classmethod
    def load(cls, path: str | Path | None = None, dtype: str = "auto", threads: int | None = None) -> Engine:
        """Load a checkpoint folder (default assets/engine/); missing -> FileNotFoundError naming it."""
        if threads:
            torch.set_num_threads(threads)
        folder = Path(path) if path is not None else DEFAULT_DIR
        model = load_model(folder, resolve_dtype(dtype))
        tok_file = folder / TOKENIZER_FILE if (folder / TOKENIZER_FILE).is_file() else DEFAULT_PATH
        check_tokenizer(folder, tok_file)
        tokenizer = TextTokenizer.load(tok_file)
        provenance = read_provenance(folder)
        # checkpoints from before the field was written were all trained on the digits wording
        return cls(model, tokenizer, provenance.codec_id, provenance.clock_context or "digits")

    @classmethod
    def random(cls, preset: str = "tiny", seed: int = 0, dtype: str = "float32") -> Engine:
        """An untrained engine (for tests and benchmarks) with the shipped tokenizer."""
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
        tokenizer = TextTokenizer.load()
        cfg = dataclasses.replace(PRESETS[preset], text_vocab_size=tokenizer.vocab_size)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = OmniModel(cfg)
        return cls(model.to(resolve_dtype(dtype)), tokenizer)

    def check_codec(self, codes_id: str) -> None:
        """Raise ValueError unless this engine can read and write the codes of a codec with `codes_id`
        (`Codec.codes_id`): a trained engine only knows the codes of the codec its data was encoded with;
        an untrained one (no `codec_id`) takes any."""
        if self.codec_id and self.codec_id != codes_id:
            raise ValueError(
                f"the engine was trained on the codes of codec {self.codec_id}, but the codec loaded makes "
                f"codes {codes_id}; pass --codec with the codec its training data was encoded with"
            )

    def new_session(self, context: str = "", sampling: SamplingConfig | None = None) -> EngineSession:
        """A new conversation; its context is encoded at its first step."""
        return EngineSession(self.config, self.tokenizer, self.cache, context, sampling, engine=self)

    @torch.inference_mode()
    def step(self, sessions: list[EngineSession], user_codes: np.ndarray) -> list[StepOutput]:
        """One batched step: user_codes int [B, K, G], one row per session (sessions at any positions)."""
        user = self._check_codes(user_codes, len(sessions))  # [B, K, G]
        with self.cache.lock:
            return self._step(sessions, user)

    def _step(self, sessions: list[EngineSession], user: np.ndarray) -> list[StepOutput]:
        for s in sessions:
            if s.pool is not self.cache:
                raise ValueError("a session can only be stepped by the engine that made it")
            controls = s.take_controls()  # raises on a closed session, before it takes a row
            if s.cache.row is None:
                self.cache.open(s.cache)
            for control in controls:
                self._apply(s, control)
        inputs = [s.step_inputs(s.step) for s in sessions]
        text_in = torch.tensor([[i[0]] for i in inputs])  # [B, 1]
        user_text_in = torch.tensor([[i[1]] for i in inputs])
        asst_in = torch.from_numpy(np.stack([i[2] for i in inputs]))[:, None]  # [B, 1, K, G]
        caches = [s.cache for s in sessions]
        h, routings = self._forward_steps(
            caches, torch.from_numpy(user)[:, None], text_in, user_text_in, asst_in
        )
        logits = self.model.heads(h)
        text, user_text, audio = self._sample(sessions, logits)
        usage = self._expert_usage(routings, len(sessions))
        return [
            s.finish_step(
                user[b], int(text[b]), int(user_text[b]), audio[b], None if usage is None else usage[b]
            )
            for b, s in enumerate(sessions)
        ]

    def _check_codes(self, user_codes: np.ndarray, batch: int) -> np.ndarray:
        codes = np.asarray(user_codes)
        expected = (batch, self.num_codebooks, self.frames_per_step)
        if codes.shape != expected:
            raise ValueError(
                f"user_codes must have shape {expected} (sessions, codebooks, frames), got {codes.shape}"
            )
        if codes.size and (codes.min() < 0 or codes.max() >= self.config.codebook_size):
            raise ValueError(f"user_codes must lie in [0, {self.config.codebook_size})")
        return codes.astype(np.int64)

    def _forward_steps(self, states: list[CacheState], user, text_in, user_text_in, asst_in):
        """Append T audio steps to each session's cache: inputs [B, T, ...] -> (hidden [B, T, d], routings)"""
        views, caches = self.cache.plan(self.model, states, steps=user.shape[1])
        dev = self.device
        h = self.model.embed_steps(user.to(dev), text_in.to(dev), user_text_in.to(dev), asst_in.to(dev))
        return self.model.backbone(h.to(self.dtype), views, caches)

    def _sample(self, sessions: list[EngineSession], logits):
        """-> text [B], user_text [B] (greedy), audio [B, K, G] numpy int64 (delay layout)."""
        B, K, G = len(sessions), self.num_codebooks, self.frames_per_step
        gens = [s.generator for s in sessions]
        text_logits = logits.text[:, -1:]  # [B, 1, V]
        starting = torch.tensor([s.starting for s in sessions], device=text_logits.device)
        if starting.any():  # start_turn(): these rows must say a word now, not PAD, EOS or another special
            special = torch.zeros(text_logits.shape[-1], dtype=torch.bool, device=text_logits.device)
            special[list(SPECIAL_IDS)] = True
            text_logits = text_logits.masked_fill(starting[:, None, None] & special, float("-inf"))
        text = sample(text_logits, [s.text_sampling for s in sessions], gens, pad_id=PAD_ID)[:, 0]
        user_text = greedy_text(logits.user_text[:, -1].float(), PAD_ID)
        audio_logits = logits.audio[:, -1].reshape(B, K * G, -1)
        audio = sample(audio_logits, [s.audio_sampling for s in sessions], gens).view(B, K, G)
        return text.cpu(), user_text.cpu(), audio.cpu().numpy()

    def _expert_usage(self, routings, batch: int) -> np.ndarray | None:
        """How often each session's step chose each expert: [B, MoE layers, E] (None without MoE)."""
        if not routings:
            return None
        choice = torch.stack([r.choice for r in routings], dim=1)  # [B, L, k]
        return F.one_hot(choice, self.config.num_experts).sum(dim=2).cpu().numpy()

    def _apply(self, session: EngineSession, control: Control) -> None:
        """Carry out one queued control (engine/controls.py); context and truncation run small forwards."""
        match control:
            case Reset():
                session.clear()
            case Silence():
                session.mute()
            case UserTurnEnded():
                session.unmute()
            case StartTurn():
                session.start_speaking()
            case InjectContext(tokens=tokens, initial=initial, key=key):
                self._prefill_context(session, list(tokens), initial, key)
            case Truncate():
                frame = session.truncate_frame(control)
                replay = None if frame is None else session.cut(frame)
                if replay is not None:
                    self._replay(session, *replay)
            case _:
                raise TypeError(f"not a session control: {control!r}")

    def _prefill_context(
        self, session: EngineSession, tokens: list[int], initial: bool, key: str | None = None
    ) -> None:
        """Write context tokens into the session's context slots (runs before its next step): its initial
        context, or an injection, which replaces the earlier one with the same `key`."""
        state = session.cache
        if initial:
            segments = [Segment(tokens[: self.config.max_context])]
        else:
            segments, room = self.cache.make_room(state, len(tokens), key)
            if room > 0:
                segments.append(Segment(tokens[:room], key))
        state.segments += segments
        flat = [t for s in segments for t in s.tokens]
        if not flat:
            return
        views, caches = self.cache.plan(self.model, [state], steps=0, context=len(flat))
        h = self.model.embed_context(torch.tensor([flat], device=self.device))
        self.model.backbone(h, views, caches)

    def _replay(self, session: EngineSession, first: int, steps: int) -> None:
        """Recompute the cache for steps [first, first + steps) from the (edited) history."""
        self.cache.rollback(session.cache, steps)
        h = session.history
        idx = [(first + i) % h.size for i in range(steps)]
        inputs = [session.step_inputs(first + i) for i in range(steps)]
        user = torch.from_numpy(h.user[idx])[None]  # [1, T, K, G]
        text_in = torch.tensor([[i[0] for i in inputs]])
        user_text_in = torch.tensor([[i[1] for i in inputs]])
        asst_in = torch.from_numpy(np.stack([i[2] for i in inputs]))[None]
        self._forward_steps([session.cache], user, text_in, user_text_in, asst_in)
