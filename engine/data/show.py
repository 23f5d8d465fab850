"""Human-readable view of one dataset dialogue: its turns and its text streams step by step."""

from __future__ import annotations

import json

import numpy as np

from engine.data.dialogue import STEP_SAMPLES
from engine.tokenizer import CTX_ID, EOS_ID, PAD_ID, TOOL_ID, TextTokenizer

STEP_SECONDS = STEP_SAMPLES / 24000
_MARKS = {EOS_ID: "<eos>", TOOL_ID: "<tool>", CTX_ID: "<ctx>"}


def _piece(tokenizer: TextTokenizer, token: int) -> str:
    return _MARKS.get(token) or tokenizer.piece(token)


def _activity(turns: list[dict], steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Per step: is the user speaking (by turn bounds), is the assistant's audio playing."""
    user, asst = np.zeros(steps, bool), np.zeros(steps, bool)
    for t in turns:
        user[t["user_start"] : t["user_end"] + 1] = True
        asst[t["asst_start"] : t["asst_end"]] = True
    return user, asst


def format_dialogue(arrays: dict[str, np.ndarray], tokenizer: TextTokenizer, all_steps: bool = False) -> str:
    """Text table of a dialogue .npz's arrays (as loaded by `np.load`)."""
    meta = json.loads(str(arrays["meta"]))
    text, user_text = arrays["text"], arrays["user_text"]
    steps = len(text)
    lines = [
        f"voice {meta['voice']}  split {meta['split']}  steps {steps} ({steps * STEP_SECONDS:.1f} s)  "
        f"codes {arrays['user_codes'].shape}",
        f"prefix: {'|'.join(_piece(tokenizer, int(t)) for t in arrays['prefix'])}",
    ]
    for i, t in enumerate(meta["turns"]):
        cut = f" interrupted_at {t['interrupted_at']}" if t["interrupted_at"] is not None else ""
        lines.append(
            f"turn {i} [{t['skill']}] user {t['user_start']}-{t['user_end']} asst {t['asst_start']}-"
            f"{t['asst_end']}{cut}: {t['question']!r} -> {t['answer']!r}"
            + (f" + {t['tool']}" if t["tool"] else "")
        )
    user, asst = _activity(meta["turns"], steps)
    lines.append(f"{'step':>5} {'time':>6}  U A  {'user transcript':<18} monologue")
    for s in range(steps):
        eventful = text[s] != PAD_ID or user_text[s] != PAD_ID
        edge = s > 0 and (user[s] != user[s - 1] or asst[s] != asst[s - 1])
        if all_steps or eventful or edge:
            u, a = "U" if user[s] else ".", "A" if asst[s] else "."
            lines.append(
                f"{s:>5} {s * STEP_SECONDS:>5.2f}s  {u} {a}  {_piece(tokenizer, int(user_text[s])):<18} "
                f"{_piece(tokenizer, int(text[s]))}"
            )
    return "\n".join(lines)
