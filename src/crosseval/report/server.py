"""`crosseval view`: the HTML report served on 127.0.0.1, re-rendered while a run is in progress.

The page is the same one `write_html_report` writes, marked live: it polls `GET /version` and
reloads when the version changes. The version is a digest of the size and modification time of each
run's `run.sqlite`, its write-ahead log and `manifest.json`, so every committed write shows up
without re-reading the database on each poll; the page itself is rendered again only when asked
for after a change. Uses the standard library's threading HTTP server: one local user, no
dependencies, and nothing is ever bound to a public interface by default.

Requests are answered only when their `Host` header names the address the server bound
(`127.0.0.1:PORT`, or `localhost:PORT`); any other gets 400. A web page elsewhere could otherwise
point a name it controls at 127.0.0.1 (DNS rebinding) and read the report from the user's browser.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crosseval.engine.manifest import MANIFEST_FILENAME
from crosseval.engine.store import STORE_FILENAME
from crosseval.metrics.aggregate import BootstrapSettings
from crosseval.report.html import ReportInputError, render_html_report
from crosseval.report.model import Report, RunReport

logger = logging.getLogger(__name__)

ReportBuilder = Callable[[Sequence[Path], str | None], Report]
"""(run_dirs, judge_config) -> the report, as `crosseval.report.summary.build_report` builds it."""

_WATCHED_SUFFIXES = ("", "-wal")
_MAX_RENDERS = 3


def live_report(run_dirs: Sequence[Path], judge_config: str | None) -> Report:
    """`build_report`, run by run: a run that cannot be scored yet (no responses or no verdicts, as
    early in a run) becomes a notice on the page instead of an error, and its samples still show."""
    from crosseval.metrics.runs import RunInputError
    from crosseval.report.summary import build_report

    rows: list[RunReport] = []
    notices: list[str] = []
    settings = BootstrapSettings()
    for run_dir in run_dirs:
        try:
            single = build_report([run_dir], judge_config=judge_config, bootstrap_reps=settings.reps)
        except RunInputError as exc:
            notices.append(f"Not scored yet: {exc}")
            continue
        rows.extend(single.runs)
    return Report(runs=tuple(rows), bootstrap=settings, notices=tuple(notices))


def run_version(run_dirs: Sequence[Path]) -> str:
    """A short digest that changes whenever a run's store, write-ahead log or manifest changes."""
    digest = hashlib.sha256()
    for run_dir in run_dirs:
        paths = [Path(run_dir) / (STORE_FILENAME + suffix) for suffix in _WATCHED_SUFFIXES]
        for path in [*paths, Path(run_dir) / MANIFEST_FILENAME]:
            try:
                stat = path.stat()
            except FileNotFoundError:
                digest.update(f"{path}:absent;".encode())
                continue
            digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


class ReportServer:
    """Serves the live report of `run_dirs` on `host:port` (port 0 picks a free one) from a thread.

    Use as a context manager, or call `start()` and `stop()`. `url` is set once started.
    """

    def __init__(
        self,
        run_dirs: Sequence[Path],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        judge_config: str | None = None,
        thumbnail_px: int = 256,
        poll_ms: int = 2000,
        report_builder: ReportBuilder | None = None,
    ) -> None:
        self.run_dirs = [Path(d) for d in run_dirs]
        self.judge_config = judge_config
        self.thumbnail_px = thumbnail_px
        self.poll_ms = poll_ms
        self._build_report = report_builder or live_report
        self._render_lock = threading.Lock()
        self._page: tuple[str, bytes] | None = None
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None
        bound_port = self._httpd.server_address[1]
        self.allowed_hosts = frozenset(f"{name}:{bound_port}" for name in (host, "127.0.0.1", "localhost"))
        """`Host` header values answered: the bound address and port, or `localhost` with that port."""

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/"

    def version(self) -> str:
        return run_version(self.run_dirs)

    def page(self) -> bytes:
        """The rendered page for the current version of the runs, rendered again only after a change."""
        with self._render_lock:
            version = self.version()
            if self._page is not None and self._page[0] == version:
                return self._page[1]
            # Reading a store can checkpoint its write-ahead log and so change the version: render
            # again until the version holds, and embed the one read before rendering, so that a write
            # during rendering triggers a reload instead of being missed.
            for _ in range(_MAX_RENDERS):
                embedded = version
                report = self._build_report(self.run_dirs, self.judge_config)
                html = render_html_report(
                    self.run_dirs,
                    report=report,
                    judge_config=self.judge_config,
                    thumbnail_px=self.thumbnail_px,
                    live_version=embedded,
                    poll_ms=self.poll_ms,
                )
                settled = self.version()
                if settled == version:
                    break
                version = settled
            body = html.encode("utf-8")
            self._page = (embedded, body)
            return body

    def start(self) -> str:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="crosseval-view", daemon=True)
        self._thread.start()
        return self.url

    def serve_forever(self) -> None:
        """Serve on the calling thread until interrupted."""
        self._httpd.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ReportServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _handler_for(server: ReportServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "crosseval-view"

        def do_GET(self) -> None:
            if (self.headers.get("Host") or "").strip().lower() not in server.allowed_hosts:
                self._send(HTTPStatus.BAD_REQUEST, b"unexpected Host header", "text/plain; charset=utf-8")
                return
            path = urlsplit(self.path).path
            if path in ("/", "/index.html"):
                try:
                    body = server.page()
                except ReportInputError as exc:
                    self._send(
                        HTTPStatus.INTERNAL_SERVER_ERROR, str(exc).encode(), "text/plain; charset=utf-8"
                    )
                    return
                except Exception as exc:
                    logger.exception("rendering the report failed")
                    message = f"rendering the report failed: {type(exc).__name__}; see the server log"
                    self._send(
                        HTTPStatus.INTERNAL_SERVER_ERROR, message.encode(), "text/plain; charset=utf-8"
                    )
                    return
                self._send(HTTPStatus.OK, body, "text/html; charset=utf-8")
            elif path == "/version":
                body = json.dumps({"version": server.version()}).encode()
                self._send(HTTPStatus.OK, body, "application/json")
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain; charset=utf-8")

        def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("%s - %s", self.address_string(), format % args)

    return Handler
