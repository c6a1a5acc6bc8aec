"""The one error type of the alignment layer: a message a user can act on."""

from __future__ import annotations

from crosseval.errors import UserError


class AlignError(UserError):
    """Bad input or a build that cannot produce a trustworthy dataset or model.

    The message names the file, the record (line) and the field when the cause is in the input, and it
    never contains a secret. The CLI prints it and exits non-zero.
    """
