"""Errors raised for bad input: each names the field, the value and what was expected."""

from __future__ import annotations

from typing import Any

__all__ = ["InputError", "TierTableError"]


class InputError(ValueError):
    """A bad input value.

    Parameters
    ----------
    field : str
        The argument or data field that is wrong (``"entry_price"``, ``"tiers[2].mmr"`` ...).
    value : Any
        The offending value, as given.
    expected : str
        What would have been accepted.
    """

    def __init__(self, field: str, value: Any, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"{field}={value!r}: expected {expected}")


class TierTableError(InputError):
    """A malformed tier table (unsorted, gaps, mmr decreasing, inconsistent maintenance amount)."""
