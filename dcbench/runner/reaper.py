"""Ends whatever is left of a grid's private Ray once the grid's driver is gone, however it went.

Started by the driver before ``ray.init`` as ``python reaper.py TEMP_DIR DRIVER_PID``, with stdin a
pipe whose only writer is the driver: end of file on stdin means the driver closed it (a normal
exit) or died (Ctrl-C, an exception, SIGKILL). Ray's fate sharing stops its core processes with the
driver but not all of them: after a SIGKILL its dashboard and runtime-env agents were seen living on
(Ray 2.60). A process belongs to the grid's Ray if TEMP_DIR (a private, freshly made directory)
appears in its command line, its environment or the paths of its open files: the agents overwrite
their command line and environment with their titles, but keep their log files in TEMP_DIR open.

Standard library only, and run as a file rather than imported from dcbench: it must start in a
moment and stay small while the grid runs.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import time

GRACE_S = 3.0  # SIGTERM first; SIGKILL what is still there after this
PATIENCE_S = 60.0


def members(temp_dir: str, spare: set[int]) -> set[int]:
    """The pids of this user's processes that mention ``temp_dir``, except those in ``spare``."""
    # Not followed by a name character, so "/tmp/dcbX" does not match "/tmp/dcbXY".
    pattern = re.compile(re.escape(temp_dir.encode()) + rb"(?![\w.-])")
    found = set()
    uid = os.getuid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in spare:
            continue
        proc = f"/proc/{entry}"
        try:
            if os.stat(proc).st_uid != uid:
                continue
            if _mentions(pattern, proc):
                found.add(int(entry))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def _mentions(pattern: re.Pattern[bytes], proc: str) -> bool:
    for name in ("cmdline", "environ"):
        with open(f"{proc}/{name}", "rb") as fh:
            if pattern.search(fh.read()):
                return True
    for fd in os.listdir(f"{proc}/fd"):
        try:
            if pattern.search(os.readlink(f"{proc}/fd/{fd}").encode()):
                return True
        except OSError:
            continue
    return False


def sweep(temp_dir: str, spare: set[int]) -> None:
    """Stop every member (SIGTERM, then SIGKILL after GRACE_S), then remove ``temp_dir``."""
    first_seen: dict[int, float] = {}
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        pids = members(temp_dir, spare)
        if not pids:
            break
        now = time.monotonic()
        for pid in pids:
            since = first_seen.setdefault(pid, now)
            try:
                os.kill(pid, signal.SIGKILL if now - since > GRACE_S else signal.SIGTERM)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    shutil.rmtree(temp_dir, ignore_errors=True)


def main() -> None:
    temp_dir, driver = sys.argv[1], int(sys.argv[2])
    # A Ctrl-C or a closed terminal meant for the grid must not take its cleaner with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sys.stdin.buffer.read()
    sweep(temp_dir, {os.getpid(), driver})


if __name__ == "__main__":
    main()
