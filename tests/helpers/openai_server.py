"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

It runs aiohttp in a background thread. Each POST to `/v1/chat/completions` is answered by a
*script*: a callable that receives the parsed request body and the 0-based request number and
returns a `Reply` (text, status, latency, headers, a raw or chunked body, a dropped connection, or no
answer at all). Every request body, its headers and its arrival time are recorded before the script
runs, so a test can check exactly what the client sent and when, and a script can reflect a header
back (`reflecting`).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Reply:
    text: str = "ok"
    status: int = 200
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: str | bytes | None = None
    """Sent verbatim instead of a chat-completion body (malformed JSON, empty choices, ...)."""
    finish_reason: str = "stop"
    drop_connection: bool = False
    chunked: bool = False
    """Send the body in chunks without a Content-Length, as a streaming proxy does."""
    hang: bool = False
    """Accept the request and never answer (until the server stops)."""


Script = Callable[[dict[str, Any], int], Reply]


def constant(text: str = "ok", delay_s: float = 0.0) -> Script:
    return lambda body, n: Reply(text=text, delay_s=delay_s)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def reflecting(server: OpenAIServer, header: str, status: int = 200) -> Script:
    """Answers (or fails with `status`) with the value of the request's `header`: a server that echoes secrets."""
    return lambda body, n: Reply(text=f"you sent {header}: {server.headers[n].get(header)}", status=status)


def completion_body(text: str, model: str, finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


class OpenAIServer:
    """Use as a context manager: `with OpenAIServer(script) as server: server.base_url`."""

    def __init__(self, script: Script | None = None) -> None:
        self.script: Script = script or constant()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.arrivals: list[float] = []
        """`time.monotonic()` when each request arrived."""
        self._count = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def count(self) -> int:
        return self._count

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        with self._lock:
            n = self._count
            self._count += 1
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            self.arrivals.append(time.monotonic())
        reply = self.script(body, n)
        if reply.hang:
            assert self._stopping is not None
            await self._stopping.wait()
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.drop_connection:
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        if reply.raw_body is not None:
            raw = reply.raw_body
        elif reply.status != 200:
            raw = json.dumps({"error": {"message": reply.text, "type": "test_error", "code": reply.status}})
        else:
            raw = json.dumps(completion_body(reply.text, str(body.get("model", "")), reply.finish_reason))
        data = raw.encode("utf-8") if isinstance(raw, str) else raw
        if reply.chunked:
            return await self._send_chunked(request, reply, data)
        return web.Response(
            status=reply.status, body=data, headers=reply.headers, content_type="application/json"
        )

    @staticmethod
    async def _send_chunked(request: web.Request, reply: Reply, data: bytes) -> web.StreamResponse:
        response = web.StreamResponse(status=reply.status, headers=reply.headers)
        response.content_type = "application/json"
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = 64 * 1024
        try:
            for start in range(0, len(data), chunk):
                await response.write(data[start : start + chunk])
            await response.write_eof()
        except ConnectionResetError:  # the client stopped reading: what a size cap does
            pass
        return response

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "test-model", "object": "model"}]})

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._handle)
        app.router.add_get("/v1/models", self._models)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        loop.run_until_complete(site.start())
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._runner = runner
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    def start(self) -> OpenAIServer:
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("loopback OpenAI server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def last_user_text(body: dict[str, Any]) -> str:
    """The text parts of the last user message of a chat-completions request body."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        return "\n".join(part.get("text", "") for part in content if part.get("type") == "text")
    return ""


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)
