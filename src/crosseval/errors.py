"""The base of every error a user can fix: a message, a hint and the exit code the CLI ends with.

The CLI catches `UserError` once, prints `message` and `hint`, and exits with `exit_code`; anything
else is a bug and surfaces with its traceback. Messages never contain a secret.
"""

from __future__ import annotations

EXIT_USAGE = 2
"""Bad options or settings: nothing was done."""
EXIT_FAILED = 1
"""The input or the run could not be used, or what was asked failed."""


class UserError(Exception):
    """Something the user can change: bad input, bad settings, a run directory that does not fit."""

    exit_code: int = EXIT_FAILED
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message
