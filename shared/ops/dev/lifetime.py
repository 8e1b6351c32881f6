"""Nothing ``payhook dev`` starts outlives it: its children run in sessions of their own (a Ctrl-C in the
terminal reaches ``payhook dev`` alone, which then stops them in order), and each asks the kernel for a
signal when its parent dies, however it dies (SIGKILL included)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
from collections.abc import Callable
from functools import cache

# The signals that stop ``payhook dev``: Ctrl-C, ``kill``, and a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_PR_SET_PDEATHSIG = 1


def die_with_parent(stop_signal: int = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child receives ``stop_signal`` (its clean stop) when the
    process that started it dies. Linux only; elsewhere a no-op (the signal handlers still stop the children).

    It runs after ``Popen``'s user and group change, which would otherwise clear the setting. The kernel sends
    the signal when the *thread* that started the child exits: start children from the main thread."""
    parent = os.getpid()
    libc = _libc()

    def arrange() -> None:
        if libc is None or not hasattr(libc, "prctl"):
            return
        libc.prctl(_PR_SET_PDEATHSIG, stop_signal, 0, 0, 0)
        # The parent may have died between fork and prctl: then no signal would ever come.
        if os.getppid() != parent:
            os.kill(os.getpid(), stop_signal)

    return arrange


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name else None
