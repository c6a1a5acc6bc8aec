"""One writer per run directory: an OS lock on `run.lock`, naming the process that holds it.

The lock is `fcntl.flock` on a file in the run directory, so the kernel drops it when its process ends,
however it ends: a run killed with `kill -9` never blocks the next one, and there is no stale lock to
remove by hand. The holder writes who it is (pid, host, command, start) into the file; a second writer
reads that to say which process holds the run. Readers take no lock.

flock does not lock across machines on every network file system: on NFS, give each machine its own
run directory.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from crosseval.clock import utc_now
from crosseval.errors import UserError

LOCK_FILENAME = "run.lock"


@dataclass(frozen=True)
class LockHolder:
    """The process that writes to a run directory, as it recorded itself in the lock file."""

    pid: int
    host: str
    command: str
    started_at: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} ({self.command}, started {self.started_at})"


class RunInUse(UserError):
    """Another process writes to this run directory."""

    def __init__(self, run_dir: Path, holder: LockHolder | None) -> None:
        who = holder.describe() if holder is not None else "another process (it has not yet said which)"
        stop = f"stop it (kill {holder.pid})" if holder is not None else "stop it"
        super().__init__(
            f"{run_dir} is in use: {who} is writing to it",
            hint=f"wait for it to finish or {stop}, then run this again; reading commands "
            "(report, export, view) work on the run meanwhile",
        )
        self.holder = holder


class RunLockError(UserError):
    """A run directory whose lock file cannot be created or locked (permissions, a file system without locks)."""


class RunLock:
    """The held lock of one run directory; `release()` it (closing the process releases it too)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    @classmethod
    def acquire(cls, run_dir: Path, *, command: str) -> RunLock:
        """Take the run's lock now or raise `RunInUse` naming its holder; never waits.

        `command` names what writes (`crosseval generate`), for the message another writer gets.
        """
        run_dir = Path(run_dir)
        path = run_dir / LOCK_FILENAME
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunLockError(f"{run_dir}: cannot create the run directory ({exc.strerror or exc})") from exc
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise RunLockError(f"{path}: cannot create the run's lock file ({exc.strerror or exc})") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RunInUse(run_dir, holder) from None
        except OSError as exc:
            os.close(fd)
            raise RunLockError(
                f"{path}: cannot lock the run directory ({exc.strerror or exc})",
                hint="use a run directory on a local file system",
            ) from exc
        holder = LockHolder(os.getpid(), socket.gethostname(), command, utc_now())
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(holder)).encode("utf-8"), 0)
        return cls(path, fd)

    def release(self) -> None:
        """Let the next writer in. The file stays: removing it would let two writers lock two different files."""
        if self._fd < 0:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = -1


def _read_holder(fd: int) -> LockHolder | None:
    """Who holds the lock, or `None` while the holder has not written it yet (or wrote something else)."""
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return LockHolder(
            pid=int(data["pid"]),
            host=str(data["host"]),
            command=str(data["command"]),
            started_at=str(data["started_at"]),
        )
    except (ValueError, TypeError, KeyError, OSError):
        return None
