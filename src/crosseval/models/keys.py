"""Where API keys come from: environment variables only, in a fixed order per role and provider.

Keys never come from flags (flags land in shell history, logs and manifests). The judge can use its own
key (`CROSSEVAL_JUDGE_API_KEY`) so that model and judge bill to different accounts. Every key found is
registered as a secret (`crosseval.models.secrets`), so no text the process keeps or shows can hold it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from crosseval.models.errors import ConfigError
from crosseval.models.secrets import register_secret

BackendRole = Literal["model", "judge"]

PLACEHOLDER_API_KEY = "not-needed"
"""Sent to local servers (vLLM, Ollama, ...) that accept any key, when no key is set."""

_ROLE_VARIABLES: dict[str, tuple[str, ...]] = {
    "model": ("CROSSEVAL_API_KEY",),
    "judge": ("CROSSEVAL_JUDGE_API_KEY", "CROSSEVAL_API_KEY"),
}

_PROVIDER_VARIABLES: dict[str, tuple[str, ...]] = {
    "openrouter": ("OPENROUTER_API_KEY",),
    "gemini": ("GEMINI_API_KEY",),
}
"""Hosted providers that are not OpenAI read their own variable instead of `OPENAI_API_KEY`, so an
OpenAI key is never sent to another company's endpoint."""


def key_variables(role: BackendRole, provider: str = "openai") -> tuple[str, ...]:
    """The environment variables read for `role` and `provider`, in the order they are tried."""
    provider_variables = _PROVIDER_VARIABLES.get(provider, ("OPENAI_API_KEY",))
    return _ROLE_VARIABLES[role] + provider_variables


def resolve_api_key(
    role: BackendRole,
    provider: str = "openai",
    *,
    required: bool,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The API key for `role` talking to `provider`, from the first non-empty variable.

    When no variable is set: a `ConfigError` naming the variables to set if `required` (real hosted
    endpoints), else `PLACEHOLDER_API_KEY` (local servers that ignore keys).
    """
    env = os.environ if environ is None else environ
    names = key_variables(role, provider)
    for name in names:
        value = env.get(name, "").strip()
        if value:
            register_secret(value)
            return value
    if required:
        raise ConfigError(
            f"no API key for the {role} ({provider}): set one of {', '.join(names)} "
            "(tried in this order; keys are read from the environment only)"
        )
    return PLACEHOLDER_API_KEY
