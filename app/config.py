"""Dataclass configs <-> command-line flags.

Each subsystem keeps its settings in one dataclass (whose field names are also its JSON keys); this
module turns such a dataclass into argparse flags and back, so defaults live in exactly one place.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, prefix: str = "") -> None:
    """Add one `--field-name` flag per field of dataclass `cls` (bools become --x / --no-x).

    A field's help text is taken from `field.metadata["help"]` when present.
    """
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + prefix + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        kind = hints[f.name]
        help_text = f.metadata.get("help", "") + f" (default: {default})"
        dest = prefix.replace("-", "_") + f.name
        if kind is bool:
            parser.add_argument(
                flag, dest=dest, action=argparse.BooleanOptionalAction, default=default, help=help_text
            )
            continue
        origin = typing.get_origin(kind)
        if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        if typing.get_origin(kind) in (list, tuple):
            item = typing.get_args(kind)[0]
            parser.add_argument(flag, dest=dest, type=item, nargs="+", default=default, help=help_text)
        else:
            parser.add_argument(flag, dest=dest, type=kind, default=default, help=help_text)


def dataclass_from_arguments(cls: type[T], args: argparse.Namespace, prefix: str = "") -> T:
    """Build an instance of dataclass `cls` from flags added by `add_dataclass_arguments`."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        values[f.name] = getattr(args, prefix.replace("-", "_") + f.name)
    return cls(**values)
