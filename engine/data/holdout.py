"""Stable hashed slices of the data held out for the test split (clocks, number pairs)."""

from __future__ import annotations

import hashlib


def hashed_tenth(key: str) -> bool:
    """Whether `key` falls in a stable pseudo-random tenth of all keys."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % 10 == 0
