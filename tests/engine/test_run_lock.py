"""One writer per run directory: a second writer stops at once naming the first; a killed one blocks nothing.

The process tests run the real `crosseval generate` against the loopback server, whose first answer
is held back for an hour, so the first process is reliably still writing while the others start.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crosseval.cli import app
from crosseval.data.loaders import load_benchmark
from crosseval.data.records import Sample
from crosseval.engine.run_lock import LOCK_FILENAME, RunInUse, RunLock, RunLockError
from crosseval.engine.store import RunStore
from tests.conftest import REPO_ROOT
from tests.engine.sample_images import write_sample_images
from tests.helpers.fake_run import make_sample, write_fake_run
from tests.helpers.openai_server import OpenAIServer, Reply

MODEL = "openai/test-model"
KEY = "sk-test-lock"


def test_a_second_lock_names_the_holder_until_it_is_released(tmp_path: Path) -> None:
    lock = RunLock.acquire(tmp_path / "run", command="crosseval generate")
    written = json.loads((tmp_path / "run" / LOCK_FILENAME).read_text())
    assert (written["pid"], written["host"], written["command"]) == (
        os.getpid(),
        socket.gethostname(),
        "crosseval generate",
    )

    with pytest.raises(RunInUse) as refused:
        RunLock.acquire(tmp_path / "run", command="crosseval judge")
    assert refused.value.holder is not None and refused.value.holder.pid == os.getpid()
    assert f"pid {os.getpid()} on {socket.gethostname()} (crosseval generate, started " in str(refused.value)
    assert refused.value.hint is not None and f"kill {os.getpid()}" in refused.value.hint

    lock.release()
    RunLock.acquire(tmp_path / "run", command="crosseval judge").release()


def test_what_a_dead_writer_left_in_the_lock_file_blocks_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    stale = {"pid": 999_999, "host": "elsewhere", "command": "crosseval generate", "started_at": "then"}
    (run_dir / LOCK_FILENAME).write_text(json.dumps(stale))

    with RunStore.open_for_writing(run_dir, command="crosseval judge"):
        assert json.loads((run_dir / LOCK_FILENAME).read_text())["pid"] == os.getpid()


def test_a_run_directory_that_cannot_hold_a_lock_is_named(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "run"
    not_a_folder.write_text("a file where the run directory should be")
    with pytest.raises(RunLockError, match=f"{not_a_folder}: cannot create the run directory"):
        RunStore.open_for_writing(not_a_folder, command="test")

    (tmp_path / "other" / LOCK_FILENAME).mkdir(parents=True)
    with pytest.raises(
        RunLockError, match=f"{tmp_path / 'other' / LOCK_FILENAME}: cannot create the run's lock"
    ):
        RunStore.open_for_writing(tmp_path / "other", command="test")
    assert list((tmp_path / "other").iterdir()) == [tmp_path / "other" / LOCK_FILENAME]


@pytest.fixture
def silent_holder(tmp_path: Path) -> Iterator[Path]:
    """A process that holds the lock of a run directory without saying who it is."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    script = (
        "import fcntl, sys\n"
        f"handle = open({str(run_dir / LOCK_FILENAME)!r}, 'w')\n"
        "fcntl.flock(handle, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    yield run_dir
    holder.communicate(timeout=30)


def test_a_holder_that_has_not_written_its_name_still_stops_a_second_writer(silent_holder: Path) -> None:
    with pytest.raises(RunInUse, match="in use: another process"):
        RunStore.open_for_writing(silent_holder, command="test")
    assert not (silent_holder / "run.sqlite").exists()


def test_judge_stops_while_another_writer_holds_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = write_fake_run(
        tmp_path / "run", [make_sample("casa", "english", "Japan_1")], score=lambda *_: None
    )
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with OpenAIServer() as server, RunStore.open_for_writing(run_dir, command="crosseval generate"):
        args = ["judge", str(run_dir), "--judge", "openai/judge", "--judge-base-url", server.base_url]
        result = CliRunner().invoke(app, [*args, "--no-progress"])
        assert server.count == 0
    assert result.exit_code == 1, result.output
    assert f"is in use: pid {os.getpid()} " in result.output and "(crosseval generate" in result.output


# two real processes on one run directory ----------------------------------------------------------


@pytest.fixture
def samples(cross_sample: Path, tmp_path: Path) -> tuple[list[str], list[Sample]]:
    """CLI data flags for the real casa/english records with test-made images, and those samples."""
    data = cross_sample / "casa" / "english.json"
    images = tmp_path / "images"
    loaded = load_benchmark([data], images_root=images).samples
    write_sample_images(loaded, images)
    return ["--data", str(data), "--images", str(images)], list(loaded)


class HeldServer(OpenAIServer):
    """Answers at once, except while `holding` is set: the answer then takes an hour."""

    def __init__(self) -> None:
        self.holding = threading.Event()
        super().__init__(lambda body, n: Reply(text="ok", delay_s=3600 if self.holding.is_set() else 0))


def crosseval_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "crosseval", *args]


ENV = {**os.environ, "OPENAI_API_KEY": KEY, "PYTHONPATH": str(REPO_ROOT / "src")}


def test_two_generate_processes_on_one_run_dir(
    samples: tuple[list[str], list[Sample]], tmp_path: Path
) -> None:
    data_flags, loaded = samples
    run_dir = tmp_path / "run"
    with HeldServer() as server:
        generate = crosseval_command(
            "generate", "--model", MODEL, "--base-url", server.base_url, *data_flags, "--run-dir", str(run_dir),
            "--rounds", "2", "--max-connections", "1", "--timeout", "3600", "--no-progress",
        )  # fmt: skip
        server.holding.set()
        first = subprocess.Popen(generate, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while server.count < 1:
                assert first.poll() is None and time.monotonic() < deadline, "the first writer never asked"
                time.sleep(0.05)

            second = subprocess.run(generate, env=ENV, capture_output=True, text=True, timeout=120)
            assert first.poll() is None, "the first writer still runs while the second is refused"
            assert second.returncode == 1, (second.stdout, second.stderr)
            assert f"{run_dir} is in use: pid {first.pid} on {socket.gethostname()} (crosseval generate" in (
                second.stderr
            )
            assert "Traceback" not in second.stderr

            export = subprocess.run(
                crosseval_command("export", str(run_dir)),
                env=ENV,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert export.returncode == 0, export.stderr  # reading takes no lock
            assert server.count == 1, "only the first writer's held request reached the server"
        finally:
            first.send_signal(signal.SIGKILL)
            first.communicate(timeout=30)

        with RunStore.open_for_writing(run_dir, command="test"):
            pass  # the killed writer's lock went with it

        server.holding.clear()
        rerun = subprocess.run(generate, env=ENV, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, (rerun.stdout, rerun.stderr)
        assert server.count == 1 + 2 * len(loaded)

    with RunStore.open_for_reading(run_dir) as store:
        rows = store.generations()
    assert len(rows) == 2 * len(loaded) and {row.status for row in rows} == {"ok"}
