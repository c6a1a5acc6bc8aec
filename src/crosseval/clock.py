"""The one way crosseval writes a moment in time: UTC, ISO 8601, to the second."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    """Now, in UTC, as `2025-01-31T12:00:00+00:00`: stores, manifests and lock files compare these as text."""
    return datetime.now(UTC).isoformat(timespec="seconds")
