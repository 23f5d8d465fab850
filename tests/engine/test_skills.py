"""The skill registry: every module under engine/data/skills/ is one registered skill, and everything that
lists skills (weights, phrasings, judge grammars) derives from the registry."""

import random
from collections import Counter
from pathlib import Path

import pytest

from app.cli import main
from engine.data import skills
from engine.data.clock import Clock
from engine.data.corpus import normalize_transcript
from engine.data.skills import SKILLS, all_phrasings, random_exchange
from engine.data.text_dialogue import text_dialogue
from engine.eval.judge import _grammar_of, _grammars
from engine.tokenizer import TextTokenizer


def test_every_skill_module_is_registered_once():
    """A new file in engine/data/skills/ cannot be forgotten in the registry (or registered twice)."""
    folder = Path(skills.__file__).parent
    modules = {p.stem for p in folder.glob("*.py")} - {"__init__", "base"}
    registered = {m.__name__.rpartition(".")[2] for m in skills._MODULES}
    assert registered == modules and len(skills._MODULES) == len(SKILLS)


@pytest.mark.parametrize("name", sorted(SKILLS))
def test_each_skill_generates_its_exchanges_and_is_judged(name):
    """Every skill makes exchanges named after it in both splits, with phrasings the held-out checks know,
    and the judge has a grammar for it (its own, or the fixed answers' one holding its answers)."""
    rng = random.Random(name)
    known = {p.name for p in all_phrasings()}
    for split in ("train", "test"):
        for _ in range(20):
            ex = random_exchange(rng, split, Clock.random(rng, split), skill=name)
            assert ex.skill == name and ex.question and ex.answer
            assert ex.phrasing.rpartition("/")[0] in known
    grammar = _grammars()[_grammar_of(name)]
    assert grammar.startswith("public <s> =")
    for answer in SKILLS[name].fixed_answers:
        assert normalize_transcript(answer) in grammar


def test_weights_draw_every_skill():
    """The registry's weights are positive and sum to one, so every skill is drawn."""
    weights = [s.weight for s in SKILLS.values()]
    assert all(w > 0 for w in weights) and abs(sum(weights) - 1.0) < 1e-9
    rng = random.Random(0)
    drawn = {random_exchange(rng, "train", Clock.random(rng, "train")).skill for _ in range(400)}
    assert drawn == set(SKILLS)


def test_skill_weight_overrides_change_the_mix_of_text_dialogues():
    """`--text-skill-weights` shifts the training text dialogues' skills the way it says; the names and
    numbers are checked, and a bad one is a clear error of `hark train engine`, before any work."""
    tokenizer = TextTokenizer.load()

    def shares(weights):
        counts = Counter(
            t.exchange.skill
            for seed in range(150)
            for t in text_dialogue(seed, "train", tokenizer, skill_weights=weights).plan.turns
        )
        return {name: counts[name] / sum(counts.values()) for name in SKILLS}

    natural = shares(None)
    shifted = shares(skills.parse_skill_weights("date=0.5, fallback=0"))
    assert shifted["fallback"] == 0 < natural["fallback"]
    assert shifted["date"] > 0.3 > 3 * natural["date"]
    for bad in ("dates=0.2", "date", "date=lots", "date=-1"):
        with pytest.raises(ValueError):
            skills.parse_skill_weights(bad)
    assert main(["train", "engine", "--stage", "text", "--text-skill-weights", "dat=0.2", "--out", "x"]) == 1
