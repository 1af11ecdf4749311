"""The one input-error type of every domain: bad input that the caller can fix, with a message per field.

A domain may subclass it where its callers must tell its errors apart (`OrderInputError`, `MLInputError`, ...);
the API's one exception handler (dsta.core.drf.exception_handler) answers any of them with `status_code` (400,
or 409 for a conflict) and the field errors as the body, so a view never catches them itself. A management
command prints `str(error)`: one `field: message` per field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class InputError(ValueError):
    status_code = 400

    def __init__(self, errors: Mapping[str, str | Sequence[str]]) -> None:
        # a message per field, or a list of them (DRF's shape); the body of the 400 as given
        self.errors: dict[str, Any] = dict(errors)
        super().__init__("; ".join(f"{field}: {_text(message)}" for field, message in self.errors.items()))


class Conflict(InputError):
    """Input that is well formed but clashes with what exists (a taken id, a state that forbids it): 409."""

    status_code = 409


def _text(message: str | Sequence[str]) -> str:
    return message if isinstance(message, str) else " ".join(message)
