"""What every skill is made of: the exchange it produces, its question phrasings (every fifth held out of
training), what a generator is handed, and the `Skill` record the registry and the judge read."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.data.clock import Clock


@dataclass(frozen=True)
class Exchange:
    """One user question and the assistant's reply.

    Attributes:
        skill: skill name (a key of SKILLS).
        question: what the user says.
        answer: what the assistant says.
        tool: tool-call line written after `<tool>` on the monologue (e.g. `timer.set {"seconds": 300}`).
        phrasing: "skill/list/index" of the question template, for the held-out bookkeeping.
        word: the open-vocabulary word the exchange is about, if any.
    """

    skill: str
    question: str
    answer: str
    tool: str | None = None
    phrasing: str = ""
    word: str | None = None


class Phrasings:
    """A named list of question templates; every fifth one is held out of training."""

    def __init__(self, name: str, templates: list[str]):
        self.name = name
        self.templates = templates

    def held_out(self, index: int) -> bool:
        """Whether template `index` is reserved for the test split."""
        return index % 5 == 4

    def pick(self, rng: random.Random, split: str) -> tuple[str, str]:
        """A template for `split` (test: a held-out one half of the time); returns (template, phrasing id)."""
        pool = [i for i in range(len(self.templates)) if not self.held_out(i)]
        if split == "test" and rng.random() < 0.5:
            pool = [i for i in range(len(self.templates)) if self.held_out(i)] or pool
        i = rng.choice(pool)
        return self.templates[i], f"{self.name}/{i}"


def phrasings(name: str, text: str) -> Phrasings:
    """A Phrasings list from one template per line of `text` (blank edges stripped)."""
    return Phrasings(name, [t.strip() for t in text.strip().split("\n")])


@dataclass(frozen=True)
class Request:
    """What a skill's generator is handed for one exchange.

    Attributes:
        split: "train" or "test": which phrasings, words, clocks and number pairs it may use.
        clock: the dialogue's clock (its text context).
        words: the open-vocabulary words of the split.
    """

    split: str
    clock: Clock
    words: tuple[str, ...]


@dataclass(frozen=True)
class Skill:
    """One skill of the default assistant, declared in one module of engine/data/skills/.

    Attributes:
        name: what reports and `Exchange.skill` call it.
        weight: its share of generated exchanges (the registry normalises the weights).
        generate: one exchange for a request, drawing only from the given rng.
        phrasings: every question template list it uses (held-out checks, tokenizer corpus).
        grammar: the body of a JSGF grammar (public rule `<s>`) of every answer it can give, for the
            pocketsphinx judge; None for skills with a few fixed answers, judged together.
        fixed_answers: answers that never change (judged together, by forced choice among them all).
        fixed_words: more texts whose words must never be held out (slot values, fixed answers).
    """

    name: str
    weight: float
    generate: Callable[[random.Random, Request], Exchange]
    phrasings: tuple[Phrasings, ...]
    grammar: Callable[[], str] | None = None
    fixed_answers: tuple[str, ...] = ()
    fixed_words: tuple[str, ...] = field(default_factory=tuple)


def alternatives(options: list[str]) -> str:
    """A JSGF alternation of the distinct `options`, sorted (stable grammars)."""
    return " | ".join(sorted(set(options)))
