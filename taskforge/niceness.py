"""CPU priority of the calling thread, the one way TaskForge sets it.

On Linux a nice value belongs to a thread, and threads start with their creator's: set on a
process's main thread before it starts any other, it holds for the whole process; set in a
thread pool's initializer, for the pool's threads (and whatever threads they start). Elsewhere
it is the whole process's, so only Linux is touched.

Lowering a nice value (a higher priority) needs privileges (root, ``CAP_SYS_NICE``, systemd's
``Nice=``); without them the thread keeps its value and the caller hears so.
"""

from __future__ import annotations

import os
import sys
import threading


def set_thread_niceness(value: int, *, only_raise: bool = False) -> bool:
    """The calling thread at ``value`` (with ``only_raise``, never below what it runs at already).

    True when the thread now runs at the value asked for (or nicer, with ``only_raise``); False when the
    system refused a higher priority, or on a system whose nice values are not per thread."""
    if not sys.platform.startswith("linux"):
        return False
    thread = threading.get_native_id()
    current = os.getpriority(os.PRIO_PROCESS, thread)
    wanted = max(value, current) if only_raise else value
    if wanted == current:
        return True
    try:
        os.setpriority(os.PRIO_PROCESS, thread, wanted)
    except PermissionError:
        return False
    return True
