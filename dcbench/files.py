"""Writing a file so that no reader, and no crash, ever sees half of it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Callable


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Have ``write`` fill a temporary file beside ``path``, flush it to disk, then rename it over
    ``path`` in one step. A reader sees the old file or the new one; a kill leaves the old one and at
    most a ``.part`` file. The name holds the pid and a random token, so concurrent writers of one
    path never share a temporary file, and the file is made by ``open``, so it gets the user's umask
    (files in a shared results folder stay readable by the group where the umask says so)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        with open(tmp, "xb"):
            pass
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
