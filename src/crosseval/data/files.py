"""Reading a file a user named (a data file, an image, an override file) without surprises.

Only a regular file is read, and only up to a size cap checked before reading: a folder, a symbolic
link loop, a device (`/dev/zero` never ends) or a pipe (a read blocks forever), a missing or
unreadable file and a file over the cap each raise a `DataError` that names the file and says which.
"""

from __future__ import annotations

import errno
import stat
from pathlib import Path

from crosseval.data.errors import DataError


def os_problem(error: OSError) -> str:
    """What an `OSError` raised on a path means to a user, in a few words."""
    if error.errno == errno.ELOOP:
        return "a symbolic link loop"
    if error.errno == errno.ENOENT:
        return "missing"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return f"cannot read: {error.strerror or error}"


def file_problem(path: Path) -> str | None:
    """Why `path` is not a regular file to read (missing, a broken link or a loop, a folder, a device), or None."""
    try:
        info = path.stat()
    except OSError as error:
        if error.errno == errno.ENOENT and path.is_symlink():
            return "a broken symbolic link"
        return os_problem(error)
    if stat.S_ISDIR(info.st_mode):
        return "a folder, not a file"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a device, pipe or socket)"
    return None


def read_file_bytes(path: Path, *, max_bytes: int) -> bytes:
    """The bytes of the regular file `path`, at most `max_bytes` of them, else a `DataError` saying why not."""
    problem = file_problem(path)
    if problem is not None:
        raise DataError(str(path), problem)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DataError(str(path), f"over the size cap ({size} > {max_bytes} bytes)")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise DataError(str(path), os_problem(error)) from None
    if len(data) > max_bytes:
        raise DataError(str(path), f"over the size cap (more than {max_bytes} bytes)")
    return data
