"""``taskforge.event_loop.use_uvloop``: the loops made after it are uvloop's (installed with uvicorn[standard])."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import uvloop  # a dependency here: uvicorn[standard] installs it on Linux, where the suite runs

from taskforge.event_loop import use_uvloop


@pytest.fixture
def restored_policy() -> Iterator[None]:
    before = asyncio.get_event_loop_policy()
    yield
    asyncio.set_event_loop_policy(before)


@pytest.mark.usefixtures("restored_policy")
def test_loops_made_after_it_are_uvloop_loops_and_run_coroutines() -> None:
    assert use_uvloop() is True
    loop = asyncio.new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
        assert loop.run_until_complete(asyncio.sleep(0, result="ran")) == "ran"
    finally:
        loop.close()
    assert asyncio.run(asyncio.sleep(0, result="ran")) == "ran"
