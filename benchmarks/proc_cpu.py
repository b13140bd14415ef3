"""CPU seconds of this machine's processes, from ``/proc`` (Linux): what a
benchmark reads before and after a phase to give each process's CPU per
unit of work. Unlike a rate, CPU time hardly depends on what else the shared
machine is running."""

from __future__ import annotations

import os
import re
import subprocess

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[bytes]:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rpartition(b")")[2].split()


def cpu_of(pid: int, tree: bool = False) -> float:
    """CPU seconds of ``pid`` (with its reaped children); with ``tree``, also
    those of its live children (PostgreSQL's backends), each with theirs."""
    fields = _stat(pid)
    # After the name: state, ppid, ..., utime is the 12th, then stime, cutime, cstime.
    total = sum(int(x) for x in fields[11:15])
    if tree:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                child = _stat(int(entry.name))
            except OSError:  # gone meanwhile: its parent has reaped it (counted in cutime)
                continue
            if int(child[1]) == pid:
                total += sum(int(x) for x in child[11:15])
    return total / _TICKS


def listener(port: int) -> int | None:
    """The pid listening on ``port`` on this machine, if ``ss`` can tell."""
    try:
        out = subprocess.run(
            ["ss", "-ltnpH", f"sport = :{port}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    found = re.search(r"pid=(\d+)", out)
    return int(found.group(1)) if found else None
