"""The event loop of the stream processors and of ``taskforge worker``: uvloop, which the API already runs
on through uvicorn.

uvloop comes with ``uvicorn[standard]`` wherever it builds (not on Windows); without it the
process runs on asyncio's own loop, which behaves the same, slower. It takes the selector, the
socket transports and the scheduling of callbacks and timers into C; futures and tasks are
asyncio's C ones either way. What it saves the stream processors is measured in
``docs/figures.md`` (sixth session).
"""

from __future__ import annotations

import asyncio
import importlib


def use_uvloop() -> bool:
    """Make every event loop created from now on (faust's, and its consumer thread's) a uvloop one.
    Returns False, changing nothing, where uvloop is not installed."""
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True
