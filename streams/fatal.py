"""An agent whose run fails ends its process, so that the process's supervisor starts it again.

faust restarts a failed agent in place by default, and the new run goes on reading after the
records the failed one had not finished: they would wait, unacknowledged and holding back every
later offset's commit, until the next rebalance. A new process reads them again from the committed
offsets and decides them the same way (derived ids). faust's ``CrashingSupervisor`` was meant to
end the process instead, but a failure early in the start (before faust's services are all
linked) was logged and the process went on running; so the agents end it themselves.

Nothing acknowledged is lost by ending at once: a record is acknowledged to faust only after all
it implies was acknowledged by Kafka (``streams.pipeline``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
from collections.abc import Awaitable, Callable

from faust.types import StreamT

log = logging.getLogger(__name__)

EXIT_CODE = 70
"""``EX_SOFTWARE``: what `taskforge streams` exits with when an agent failed."""
RECOVERY_STALLED_EXIT_CODE = 75
"""``EX_TEMPFAIL``: what it exits with when a table recovery made no progress (``streams.recovery_watch``)."""

Agent = Callable[[StreamT], Awaitable[None]]


def ending_the_process_on_failure(agent: Agent) -> Agent:
    """The agent, ending the process (logged, with the traceback) when anything but a cancellation escapes it."""

    @functools.wraps(agent)
    async def run(stream: StreamT) -> None:
        try:
            await agent(stream)
        except asyncio.CancelledError:
            raise  # a stop, or a rebalance: not a failure
        except Exception:  # noqa: BLE001 - ends the process, which is the point
            log.critical("agent %s failed; ending the process (exit code %d) so that its supervisor starts it "
                         "again and the records it had not finished are read again", agent.__name__, EXIT_CODE,
                         exc_info=True)
            end_process(EXIT_CODE)

    return run


def end_process(code: int) -> None:
    """Exit now, with what was logged written out: no service's stop runs (one may be what hangs)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
