"""How long ``taskforge dev`` waits before starting a child that exited again."""

from __future__ import annotations

from taskforge.devstack import RESTART_DELAY_MAX_SECONDS, restart_delay


def test_the_first_restart_is_quick_and_repeated_failures_back_off_to_a_ceiling() -> None:
    delays = [restart_delay(n) for n in range(1, 10)]
    assert delays[0] == 1.0
    assert all(later >= earlier for earlier, later in zip(delays, delays[1:], strict=False))
    assert delays[1] == 2 * delays[0] and delays[2] == 2 * delays[1]
    assert max(delays) == RESTART_DELAY_MAX_SECONDS and delays[-1] == RESTART_DELAY_MAX_SECONDS
