"""Arithmetic: "what is seventeen plus five" -> "Seventeen plus five is twenty two." (the answer says the
question back). Sums and differences of 0-20, products and exact quotients of 0-20 up to a hundred."""

from __future__ import annotations

import functools
import random

from engine.data.holdout import hashed_tenth
from engine.data.numbers import number_words
from engine.data.skills.base import Exchange, Request, Skill, alternatives, phrasings

_ARITH_ANY = phrasings(
    "arith",
    """
    what is {e}
    what's {e}
    how much is {e}
    {e}
    can you tell me what {e} is
    tell me {e}
    quick question, what is {e}
    do you know what {e} is
    calculate {e}
    what is {e} please
    please work out {e}
    hey, what's {e}
    what would {e} be
    so what is {e}
    could you compute {e}
    """,
)
_ARITH_OP = {
    "plus": phrasings(
        "plus",
        """
        add {a} and {b}
        what do you get if you add {a} and {b}
        what is the sum of {a} and {b}
        add {b} to {a}
        what is {a} and {b} together
        """,
    ),
    "minus": phrasings(
        "minus",
        """
        subtract {b} from {a}
        take {b} away from {a}
        what is {a} take away {b}
        what do you get if you subtract {b} from {a}
        what is {b} less than {a}
        """,
    ),
    "times": phrasings(
        "times",
        """
        multiply {a} by {b}
        what is {a} multiplied by {b}
        what is the product of {a} and {b}
        what do you get if you multiply {a} by {b}
        what is {a} lots of {b}
        """,
    ),
    "divided by": phrasings(
        "divided",
        """
        divide {a} by {b}
        how many times does {b} go into {a}
        what is {a} over {b}
        what do you get if you divide {a} by {b}
        what is {a} split {b} ways
        """,
    ),
}

MAX_OPERAND = 20
MAX_PRODUCT = 100


@functools.cache
def operand_table(op: str) -> tuple[tuple[int, int, int], ...]:
    """Every (a, b, result) asked about `op`: sums and differences of 0-20 (never negative), products and
    exact quotients of 0-20 up to a hundred."""
    n = range(MAX_OPERAND + 1)
    if op == "plus":
        return tuple((a, b, a + b) for a in n for b in n)
    if op == "minus":
        return tuple((a, b, a - b) for a in n for b in n if b <= a)
    if op == "times":
        return tuple((a, b, a * b) for a in n for b in n if a * b <= MAX_PRODUCT)
    if op == "divided by":
        return tuple((b * q, b, q) for b in n[1:] for q in n if b * q <= MAX_PRODUCT)
    raise ValueError(f"unknown operation {op!r}")


def is_held_out_pair(op: str, a: int, b: int) -> bool:
    """Test-split number pairs: a tenth of the sums and differences never occur in training, so the test
    asks the model to add and subtract, not to recall. Products and quotients form a table to learn by
    heart, as people do, so all of them occur in both splits."""
    return op in ("plus", "minus") and hashed_tenth(f"{op}/{a}/{b}")


def _operands(rng: random.Random, op: str, split: str) -> tuple[int, int, int]:
    """(a, b, result) of `op` for `split` (test: a held-out pair where the operation has them)."""
    table = operand_table(op)
    held = [row for row in table if is_held_out_pair(op, row[0], row[1])]
    if split == "test" and held:
        return rng.choice(held)
    while True:
        row = rng.choice(table)
        if not is_held_out_pair(op, row[0], row[1]):
            return row


def arithmetic(rng: random.Random, request: Request) -> Exchange:
    """ "what is seventeen plus five" -> "Seventeen plus five is twenty two."."""
    op = rng.choice(list(_ARITH_OP))
    a, b, c = _operands(rng, op, request.split)
    wa, wb, wc = number_words(a), number_words(b), number_words(c)
    chosen = _ARITH_ANY if rng.random() < 0.7 else _ARITH_OP[op]
    template, pid = chosen.pick(rng, request.split)
    question = template.format(e=f"{wa} {op} {wb}", a=wa, b=wb)
    return Exchange("arithmetic", question, f"{wa.capitalize()} {op} {wb} is {wc}.", phrasing=pid)


def _grammar() -> str:
    n = alternatives([number_words(i) for i in range(145)])
    return f"public <s> = <n> (plus | minus | times | divided by) <n> is <n>;\n<n> = {n};"


SKILL = Skill(
    "arithmetic",
    0.22,
    arithmetic,
    (_ARITH_ANY, *_ARITH_OP.values()),
    _grammar,
)
