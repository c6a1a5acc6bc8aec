"""`crosseval view RUN_DIR...`: serve the HTML report on 127.0.0.1, refreshing while runs progress."""

from __future__ import annotations

import errno
import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from crosseval.cli.common import fail
from crosseval.cli.helptext import COMMAND_PANEL_RESULTS, examples
from crosseval.cli.options import JudgeConfigOption, flag, option


def view(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(metavar="RUN_DIR", help="Run directories to show side by side.", show_default=False),
    ],
    port: Annotated[
        int,
        option("--port", metavar="PORT", min=0, max=65535, help="Port on 127.0.0.1; 0 picks a free one."),
    ] = 8765,
    judge_config: JudgeConfigOption = None,
    thumbnail_px: Annotated[
        int, option("--thumbnail-px", metavar="PX", min=16, help="Longest side of the embedded thumbnails.")
    ] = 256,
    poll_seconds: Annotated[
        float,
        option(
            "--poll-seconds",
            metavar="SECONDS",
            min=0.1,
            help="How often the page checks the runs for changes.",
        ),
    ] = 2.0,
    open_browser: Annotated[bool, flag("--open", help="Open the page in the default browser.")] = False,
) -> None:
    """Serve the report of RUN_DIR... at http://127.0.0.1:PORT/; the page reloads when a run changes."""
    from crosseval.engine.store import RunStore
    from crosseval.report.html import ReportInputError
    from crosseval.report.server import ReportServer

    for run_dir in run_dirs:
        if not RunStore.exists(run_dir):
            fail(f"{run_dir}: no run.sqlite here; is this a crosseval run directory?")
    try:
        server = ReportServer(
            run_dirs,
            port=port,
            judge_config=judge_config,
            thumbnail_px=thumbnail_px,
            poll_ms=max(100, round(poll_seconds * 1000)),
        )
    except OSError as exc:
        reason = "it is in use; pick another with --port" if exc.errno == errno.EADDRINUSE else str(exc)
        fail(f"cannot listen on 127.0.0.1:{port}: {reason}", code=1)
    try:
        server.page()  # render once now, so bad input fails here rather than in the browser
    except ReportInputError as exc:
        server.stop()
        fail(str(exc))
    typer.echo(f"Serving the report of {len(run_dirs)} run(s) at {server.url} (Ctrl+C to stop)")
    if open_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        typer.echo("stopped")
    finally:
        server.stop()


VIEW_EXAMPLES = examples(
    "crosseval view runs/gpt4o-mini runs/qwen  # live HTML report on 127.0.0.1",
    "crosseval view runs/qwen --port 0 --open",
)


def register(app: typer.Typer) -> None:
    """Adds `view` to the top-level app."""
    app.command("view", epilog=VIEW_EXAMPLES, rich_help_panel=COMMAND_PANEL_RESULTS)(view)
