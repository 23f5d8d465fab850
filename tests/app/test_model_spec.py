"""One model-spec syntax for every command: `default`, a path or `random:PRESET`, old spellings aliased."""

import pytest

from engine.model_spec import DEFAULT, PATH, RANDOM, ModelSpec, parse_spec


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        (None, ModelSpec(DEFAULT)),
        ("", ModelSpec(DEFAULT)),
        ("default", ModelSpec(DEFAULT)),
        ("random", ModelSpec(RANDOM, "tiny")),
        ("random:cpu", ModelSpec(RANDOM, "cpu")),
        ("runs/engine", ModelSpec(PATH, "runs/engine")),
        ("./default", ModelSpec(PATH, "./default")),
    ],
)
def test_specs_and_their_aliases_parse(text, spec):
    """Each spelling parses to its kind; "" / None / `random` are aliases of `default` / `random:tiny`."""
    assert parse_spec(text) == spec


def test_canonical_spelling_parses_back():
    """`str(spec)` is the canonical spelling, and parsing it gives the same spec."""
    for text in ["", "random", "random:gpu", "assets/engine"]:
        spec = parse_spec(text)
        assert parse_spec(str(spec)) == spec
    assert [str(parse_spec(t)) for t in ["", "random"]] == ["default", "random:tiny"]


def test_random_without_a_preset_is_refused():
    """`random:` names no preset: a ValueError that says how to write one."""
    with pytest.raises(ValueError, match="random:PRESET"):
        parse_spec("random:")
