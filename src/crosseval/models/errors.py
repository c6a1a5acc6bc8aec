"""The error raised when a backend cannot be built from its configuration (before any request)."""

from __future__ import annotations

from crosseval.errors import EXIT_USAGE, UserError


class ConfigError(UserError):
    """A model string, option, key or local model that cannot work; the message says what to change.

    Raised by `create_backend` and the backends' constructors, never during a request: a request that
    fails raises `BackendError` instead. Messages never contain an API key.
    """

    exit_code = EXIT_USAGE
