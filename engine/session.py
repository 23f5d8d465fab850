"""One conversation's streaming state: its cache row, recent token history, turn state and controls.

Control calls (silence, user_turn_ended, start_turn, truncate, truncate_at, inject_text, reset) may come
from any thread and never block; they queue a typed control (engine/controls.py), and `Engine.step`
applies the queue at the start of the session's next step, inside whichever thread runs it. The session's
cache row is taken there too, at its first step. The session knows nothing of the engine: it is handed the
model config, the tokenizer and the cache pool its row comes from.

Control semantics:
- `silence()`: ends the current turn (`speaking` is False from the next step) and from then on forces the
  assistant's text to PAD and its audio to silence codes (both are fed back, so the model knows it
  stopped). The mute lifts once the user's next turn has ended: the model has transcribed at least one
  user token since the mute and then RESUME_QUIET_STEPS steps passed without one. The model then decides
  itself when to answer.
- `user_turn_ended()`: lifts a mute because someone else (the service's VAD) saw the user's turn end; as
  above, the model then decides when to answer. Without it a mute would outlast a user turn the model
  failed to transcribe.
- `start_turn()`: lifts a mute and makes the assistant speak now: unless a turn is in progress, the
  monologue may not be PAD, EOS or another special token until a word token starts a turn (normally at
  the very next step, whose output then says `speaking`).
- `truncate_at(chunk, frame)`: assistant audio from frame `frame` of chunk `chunk` on (chunks as in
  `StepOutput.chunk`) becomes silence codes and the monologue from that step on becomes PAD; the affected
  steps (at most `rollback`) are recomputed so the cache holds only what the user heard.
  `truncate(played_frames)` does the same counting from the current/last turn's first chunk.
- `inject_text(text, key)`: the text becomes extra context positions (see kv_cache.py for what is kept);
  with a key it replaces the text injected earlier under that key (e.g. a refreshed clock line).
- `reset()`: an empty conversation with the session's original context.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass

import numpy as np

from engine.controls import Control, InjectContext, Reset, Silence, StartTurn, Truncate, UserTurnEnded
from engine.kv_cache import CacheState, KVCachePool
from engine.model import ModelConfig
from engine.sampling import SamplingConfig, StreamSampling, make_generator
from engine.tokenizer import BOS_ID, EOS_ID, PAD_ID, TOOL_ID, TextTokenizer

log = logging.getLogger(__name__)

RESUME_QUIET_STEPS = 4  # steps without a transcribed user token that end the user's turn


@dataclass
class StepOutput:
    """What one step produced for one session."""

    step: int  # session step index
    text_token: int  # assistant monologue token (PAD_ID if none)
    text_piece: str  # decoded text of that token ("" for PAD/specials and tool-line tokens)
    user_text_piece: str  # user-transcript text produced this step ("" if none)
    audio_codes: np.ndarray  # int64 [K, G]: assistant chunk to decode and play now (delays undone)
    chunk: int  # index of that chunk on the session's audio timeline (step - max delay; < 0: before it)
    speaking: bool  # the assistant is producing a turn (not silence)
    turn_ended: bool  # EOS_ID was emitted this step (outside a tool line)
    tool_call: dict | None  # {"name": ..., "arguments": {...}} when a tool line completed


class History:
    """Ring of the last `size` steps' tokens; assistant audio is indexed by chunk, not by step."""

    def __init__(self, size: int, K: int, G: int):
        self.size = size
        self.user = np.zeros((size, K, G), np.int64)  # [step] user codes
        self.text = np.zeros(size, np.int64)  # [step] monologue token
        self.user_text = np.zeros(size, np.int64)  # [step] transcript token
        self.asst = np.zeros((size, K, G), np.int64)  # [chunk] assistant codes


class EngineSession:
    """Explicit per-session state; create with `Engine.new_session`, step with `Engine.step`.

    Args:
        config: the model's configuration (stream layout, delays, silence codes, rollback).
        tokenizer: the model's text tokenizer (encodes context, decodes the monologue and transcript).
        pool: the cache pool the session's row comes from; `close()` gives the row back to it.
        context: the session's text context, encoded at its first step and again after `reset()`.
        sampling: how its streams are sampled.
        engine: the engine that made it, kept for callers that need its other parts; the session itself
            never calls it.
    """

    def __init__(
        self,
        config: ModelConfig,
        tokenizer: TextTokenizer,
        pool: KVCachePool,
        context: str = "",
        sampling: SamplingConfig | None = None,
        engine: object | None = None,
    ):
        cfg = self.config = config
        self.tokenizer, self.pool, self.engine = tokenizer, pool, engine
        self.context = context
        self.sampling = sampling = sampling or SamplingConfig()
        self.frames_per_step = cfg.frames_per_step
        self.cache = CacheState()  # its pool row is taken at the first step, in the stepping thread
        self.text_sampling = StreamSampling(sampling.text_temperature, 0, sampling.top_p)
        self.audio_sampling = StreamSampling(sampling.audio_temperature, sampling.audio_top_k, sampling.top_p)
        self.delays = np.array(cfg.audio_delays)
        self.silence_codes = np.array(cfg.silence_codes, np.int64)
        self.history = History(
            cfg.rollback + max(cfg.audio_delays) + 2, cfg.num_codebooks, cfg.frames_per_step
        )
        self._lock = threading.Lock()
        self._pending: list[Control] = []
        self.closed = False
        self.clear()
        self._queue(self._initial_context())

    # ----- controls (any thread) -----
    def silence(self) -> None:
        """Barge-in: end the current turn and emit silence/PAD from the next step until the user's next turn
        ends."""
        self._queue(Silence())

    def user_turn_ended(self) -> None:
        """The user's turn has ended (and the engine has heard it): lift a mute, leaving the model free."""
        self._queue(UserTurnEnded())

    def start_turn(self) -> None:
        """Speak now: lift a mute and make the next monologue token a word (unless a turn is in progress)."""
        self._queue(StartTurn())

    def truncate(self, played_frames: int) -> None:
        """Cut the assistant's current/last turn to the `played_frames` codec frames the user heard."""
        if played_frames < 0:
            raise ValueError(f"played_frames must be >= 0, got {played_frames}")
        self._queue(Truncate(None, played_frames))

    def truncate_at(self, chunk: int, frame: int = 0) -> None:
        """Cut the assistant's audio `frame` codec frames after the start of chunk `chunk` (a
        `StepOutput.chunk`): what follows was not heard and is erased from the context."""
        if frame < 0:
            raise ValueError(f"frame must be >= 0, got {frame}")
        self._queue(Truncate(chunk, frame))

    def inject_text(self, text: str, key: str | None = None) -> None:
        """Add text context (omni input) before the next step; it replaces the text last injected under
        the same `key` (None: always added)."""
        self._queue(InjectContext(tuple(self.tokenizer.encode_context(text)), key=key))

    def reset(self) -> None:
        """Start over: empty conversation, original context, same sampling seed."""
        with self._lock:  # what was queued before a reset would act on the conversation it drops
            self._pending = [Reset(), self._initial_context()]

    def close(self) -> None:
        """Give the cache back to the pool; the session cannot step afterwards."""
        if not self.closed:
            self.closed = True
            self.pool.close(self.cache)

    def _initial_context(self) -> InjectContext:
        return InjectContext(tuple(self.tokenizer.encode_context(self.context)), initial=True)

    def _queue(self, control: Control) -> None:
        with self._lock:
            self._pending.append(control)

    # ----- used by Engine.step (the stepping thread) -----
    def take_controls(self) -> list[Control]:
        """The controls queued since the last step, oldest first (the queue is left empty)."""
        if self.closed:
            raise RuntimeError("session is closed")
        with self._lock:
            pending, self._pending = self._pending, []
        return pending

    def clear(self) -> None:
        """Conversation state back to the start (cache counters included)."""
        self.cache.reset()
        self.step = 0
        self.generator = make_generator(self.sampling.seed)
        self.muted = self.heard_user = False
        self.quiet_steps = 0
        self.in_turn = False
        self.starting = False  # start_turn(): the monologue must start a turn with a word
        self.turn_start_chunk: int | None = None  # chunk where the current/last turn's audio starts
        self._cut_before = 0  # chunks before this index are final (truncate silenced some of them)
        self._tool: list[int] | None = None
        self.stats = {"steps": 0, "expert_usage": None, "context_slots": 0, "cached_steps": 0, "muted": False}

    def mute(self) -> None:
        """`Silence`: end the turn (and any tool line) and mute until the user's next turn has ended."""
        self.muted, self.heard_user, self.quiet_steps = True, False, 0
        self.in_turn, self.starting, self._tool = False, False, None

    def unmute(self) -> None:
        """`UserTurnEnded`: lift a mute; the model decides when to answer."""
        self.muted = False

    def start_speaking(self) -> None:
        """`StartTurn`: lift a mute; unless a turn is in progress the next monologue token must be a word."""
        self.muted, self.starting = False, not self.in_turn

    def truncate_frame(self, control: Truncate) -> int | None:
        """The absolute codec frame a `Truncate` cuts at (None: no turn to count from yet)."""
        start = self.turn_start_chunk if control.chunk is None else control.chunk
        return None if start is None else start * self.frames_per_step + control.frame

    def step_inputs(self, t: int) -> tuple[int, int, np.ndarray]:
        """Inputs of step t from history: (previous text, previous transcript, delayed asst codes [K, G])."""
        h, K = self.history, len(self.delays)
        if t == 0:
            text_in = user_text_in = BOS_ID
        else:
            text_in, user_text_in = h.text[(t - 1) % h.size], h.user_text[(t - 1) % h.size]
        chunks = t - 1 - self.delays  # [K] chunk whose codebook k is read
        asst = h.asst[chunks % h.size, np.arange(K)]  # [K, G]
        asst[chunks < 0] = self.config.start_code
        return int(text_in), int(user_text_in), asst

    def finish_step(self, user, text: int, user_text: int, audio: np.ndarray, usage) -> StepOutput:
        """Record step t's tokens ([K, G] audio in delay layout) and build its StepOutput."""
        h, t = self.history, self.step
        if self.muted:
            text, audio = PAD_ID, np.broadcast_to(self.silence_codes[:, None], audio.shape)
            self._silence_chunks(t - int(self.delays.max()), t + 1)
        h.user[t % h.size] = user
        h.text[t % h.size], h.user_text[t % h.size] = text, user_text
        for k, d in enumerate(self.delays):
            if t - d >= self._cut_before:  # codebooks of chunks cut by truncate stay silent
                h.asst[(t - d) % h.size, k] = audio[k]
        self._track_user(user_text)
        chunk = self._emitted_chunk(t)
        piece, turn_ended, tool_call = self._track_text(text, t)
        self.step += 1
        self._update_stats(usage)
        speaking = self.in_turn or bool((chunk[0] != self.silence_codes[0]).any())
        return StepOutput(
            t,
            text,
            piece,
            self.tokenizer.piece(user_text),
            chunk,
            t - int(self.delays.max()),
            speaking,
            turn_ended,
            tool_call,
        )

    def _emitted_chunk(self, t: int) -> np.ndarray:
        """The chunk whose codebooks are all known after step t: t - max delay (silence before that)."""
        c = t - int(self.delays.max())
        if c < 0:
            return np.repeat(self.silence_codes[:, None], self.frames_per_step, axis=1)
        return self.history.asst[c % self.history.size].copy()

    def _silence_chunks(self, first: int, end: int, from_frame: int = 0) -> None:
        """Set chunks [first, end) to silence codes (frames >= from_frame of the first one)."""
        h = self.history
        for c in range(max(first, 0), end):
            h.asst[c % h.size, :, from_frame if c == first else 0 :] = self.silence_codes[:, None]

    def _track_user(self, user_text: int) -> None:
        """Lift a mute once the user's turn (started after the mute) has ended."""
        if not self.muted:
            return
        if user_text != PAD_ID:
            self.heard_user, self.quiet_steps = True, 0
        elif self.heard_user:
            self.quiet_steps += 1
            self.muted = self.quiet_steps < RESUME_QUIET_STEPS

    def _track_text(self, text: int, t: int) -> tuple[str, bool, dict | None]:
        """Turn and tool-line state machine over the monologue; returns (piece, turn_ended, tool_call)."""
        if text == TOOL_ID:
            self._tool = []
        elif text == EOS_ID:
            if self._tool is not None:
                tool, self._tool = self._tool, None
                return "", False, self._parse_tool(tool)
            self.in_turn = False
            return "", True, None
        elif text != PAD_ID:
            if self._tool is not None:
                self._tool.append(text)
                return "", False, None
            if not self.in_turn:  # a word's audio starts one step after its first text token
                self.in_turn, self.starting, self.turn_start_chunk = True, False, t + 1
        return self.tokenizer.piece(text), False, None

    def _parse_tool(self, tokens: list[int]) -> dict:
        """`name {json arguments}` -> {"name", "arguments"}; unparsable arguments are kept as "raw"."""
        line = self.tokenizer.decode(tokens).strip()
        name, _, args = line.partition(" ")
        try:
            arguments = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError:
            log.warning("tool line with bad JSON arguments: %r", line)
            return {"name": name, "arguments": {}, "raw": args}
        return {"name": name, "arguments": arguments if isinstance(arguments, dict) else {"value": arguments}}

    def _update_stats(self, usage: np.ndarray | None) -> None:
        s = self.stats
        s["steps"] = self.step
        if usage is not None:
            s["expert_usage"] = usage if s["expert_usage"] is None else s["expert_usage"] + usage
        s["context_slots"] = self.cache.n_context
        s["cached_steps"] = min(self.cache.ring_len, self.config.context_window)
        s["muted"] = self.muted

    def cut(self, frame: int) -> tuple[int, int] | None:
        """Silence the assistant's audio from absolute codec frame `frame` on and rewrite the history after
        the cut; returns the steps whose inputs changed, (first, count), for the caller to recompute in the
        cache (None: none did)."""
        G, cfg = self.frames_per_step, self.config
        cut_chunk, cut_frame = divmod(max(0, frame), G)
        if cut_chunk >= self.step:
            return None  # nothing unheard has been generated yet
        if cut_chunk + 1 < self.step - cfg.rollback:
            log.warning(
                "truncate reaches back %d steps; only the last %d are rewritten",
                self.step - cut_chunk,
                cfg.rollback,
            )
            cut_chunk, cut_frame = self.step - cfg.rollback - 1, 0
        h = self.history
        self._silence_chunks(cut_chunk, self.step + 1, cut_frame)
        for s in range(cut_chunk, self.step):
            h.text[s % h.size] = PAD_ID
        self.in_turn, self._tool, self._cut_before = False, None, self.step
        first = cut_chunk + 1  # first step whose inputs changed (it reads chunk cut_chunk and its text)
        return (first, self.step - first) if first < self.step else None
