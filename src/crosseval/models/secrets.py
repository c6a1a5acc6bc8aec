"""The secrets this process holds, and `redact`, which takes them out of any text before it is kept or shown.

Every API key that is resolved (model and judge) and every credential written into a base URL is
registered here, once, when it is read. Backends pass each text that leaves them (answers, finish
reasons, error messages) through `redact`, so a server that reflects a key, in an error or inside a
successful answer, cannot get it into the run store, an export, a report or another provider's prompt.
The CLI redacts what it prints as well.

Secrets shorter than `MIN_SECRET_CHARS` are not searched for in text: they would match ordinary words
and damage answers. URLs are shown through `public_url` instead, which drops credentials of any length.
"""

from __future__ import annotations

import base64
import re
import threading
from typing import overload
from urllib.parse import unquote, urlsplit, urlunsplit

MIN_SECRET_CHARS = 8
REDACTED = "***"

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register_secret(value: str | None) -> None:
    """Remember `value` as a secret of this process; `redact` replaces it from now on."""
    global _pattern
    if value is None or len(value) < MIN_SECRET_CHARS or value in _secrets:
        return
    with _lock:
        _secrets.add(value)
        longest_first = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(secret) for secret in longest_first))


def redact(text: str) -> str:
    """`text` with every registered secret replaced by `***`."""
    pattern = _pattern
    return text if pattern is None else pattern.sub(REDACTED, text)


def url_credentials(url: str | None) -> tuple[str, str] | None:
    """The (user, password) written into `url` as `user:password@`, percent-decoded; None without them."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return None
    return unquote(parts.username or ""), unquote(parts.password or "")


def register_url_credentials(url: str | None) -> None:
    """Registers the credentials in `url` as secrets, also as the HTTP Basic header value that carries them.

    The password is a secret; the user name is one only when it stands alone (a token in the user slot).
    """
    credentials = url_credentials(url)
    if credentials is None:
        return
    user, password = credentials
    pair = f"{user}:{password}"
    register_secret(pair)
    register_secret(base64.b64encode(pair.encode("utf-8")).decode("ascii"))
    register_secret(password if password else user)


def without_credentials(url: str) -> str:
    """`url` without its `user:password@` part; everything else (path, query) is kept."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=_host_and_port(url)))


@overload
def public_url(url: str) -> str: ...
@overload
def public_url(url: None) -> None: ...
def public_url(url: str | None) -> str | None:
    """`url` for messages and manifests: without credentials, query or fragment (keys ride in both)."""
    if url is None:
        return None
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, _host_and_port(url), parts.path, "", ""))


def _host_and_port(url: str) -> str:
    netloc = urlsplit(url).netloc
    return netloc.rpartition("@")[2]
