"""An exclusive `flock` on a lock file: held while the block runs, dropped by the kernel if the process dies."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive(path: Path, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created 0600); without `wait`, BlockingIOError if another holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


@contextmanager
def execution(path: Path, what: str) -> Iterator[None]:
    """Hold the execution lock at `path` without waiting; ConflictError naming `what` if a live process holds it."""
    from promptvault.errors import ConflictError

    path.parent.mkdir(parents=True, exist_ok=True)
    held = False
    try:
        with exclusive(path, wait=False):
            held = True
            yield
    except BlockingIOError:
        if held:  # raised by the work itself, not by the lock
            raise
        raise ConflictError(f"{what} is being executed by another process") from None


def is_executing(path: Path) -> bool:
    """Whether some live process holds the execution lock at `path`."""
    from promptvault.errors import ConflictError

    try:
        with execution(path, str(path)):
            return False
    except ConflictError:
        return True
