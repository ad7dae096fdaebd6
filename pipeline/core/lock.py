"""An OS file lock on an output folder for the life of a run, so two processes never write one folder at once.

The lock is `flock` on a small file that holds the holder's PID: the kernel releases it when the holder dies, even
by `kill -9`, so a lock left by a crashed run is simply taken over. The file stays after a run (deleting it would
let two processes lock two different files); a clean release empties it, so a PID still in it at the next start
tells that the previous run ended without releasing it.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
from pathlib import Path
from types import TracebackType

from pipeline.core.errors import RunDirError

log = logging.getLogger(__name__)


class FolderLock:
    """An exclusive, non-blocking lock held in `path`; a context manager.

    Args:
        path: the lock file (created with its parent folders).
        what: what the folder is, for the refusal message, e.g. "run folder".
        hint: what else the user can do than wait, e.g. "pass another --output-dir".
    """

    def __init__(self, path: str | Path, what: str, hint: str | None = None) -> None:
        self.path = Path(path)
        self.what = what
        self.hint = hint
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        """Take the lock, or raise RunDirError naming the PID of the process that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = _read_pid(fd)
            os.close(fd)
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise RunDirError(f"{self.path}: cannot lock the {self.what} ({error.strerror})") from None
            who = f"process {holder}" if holder else "another process"
            instead = f", or {self.hint}" if self.hint else ""
            raise RunDirError(
                f"the {self.what} {self.path.parent} is in use by {who} (lock {self.path}); "
                f"wait for it to end{instead}"
            ) from None
        previous = _read_pid(fd)
        if previous and previous != os.getpid():
            log.warning(
                "%s: took over the lock of process %d, which ended without releasing it", self.path.parent, previous
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Empty the PID (a clean end) and let go; safe to call twice."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:  # a full or read-only disk: the lock is still released below
            log.debug("could not empty %s", self.path)
        finally:
            os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    """The PID written in the lock file, or None when it holds none (free, or just being taken)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None
