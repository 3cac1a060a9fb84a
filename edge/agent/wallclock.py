"""The wall clock as the runtime watches it: unset at boot, stepped, settled again.

Timed work runs on the monotonic clock; wall time only stamps (``docs/agent.md``,
"Time"). :class:`WallClockWatch` is the part of :class:`edge.agent.runtime.Runtime`
that flags an implausible or stepped wall clock in ``status.faults.clock`` and clears
it once the core's clock agrees again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from edge.vocabulary import iso_time

if TYPE_CHECKING:
    from edge.agent.dispatch import Dispatcher
    from edge.clock import Clock, SteadyTime
    from edge.config import Config
    from edge.messaging.health import Health

log = logging.getLogger("capleak.runtime")


class WallClockWatch:
    """Wall-clock checks and steps; a mixin of :class:`edge.agent.runtime.Runtime`."""

    config: Config
    clock: Clock
    health: Health
    dispatch: Dispatcher | None
    _steady: SteadyTime
    _next_status: float
    _clock_not_before: float
    _clock_unset: bool

    def _check_clock_at_boot(self) -> None:
        """A wall clock before capleak existed (or before this agent last ran) is not set."""
        wall = self.clock.now()
        if wall < self._clock_not_before - self.config.clock.step_s:
            why = (
                f"wall clock at {iso_time(wall)} is before {iso_time(self._clock_not_before)}: "
                "not synchronised yet"
            )
            log.warning("%s; timed checks run on the monotonic clock", why)
            self.health.set_fault("clock", why)
            self._clock_unset = True

    def _clock_stepped(self, step: float, wall: float) -> None:
        assert self.dispatch is not None
        why = f"wall clock stepped {step:+.1f} s at {iso_time(wall)}"
        log.warning(
            "%s: timed checks stay on the monotonic clock; the core's clock converges at %g s/s",
            why,
            self.config.clock.slew,
        )
        self.health.set_fault("clock", why)
        self.dispatch.clock_stepped(step)
        self._next_status = 0.0  # the station learns it with the next status
        if self._clock_unset and wall >= self._clock_not_before:
            # The first real time (NTP after a boot without it): the core's clock takes
            # it at once; converging from a time that was never true would stall it.
            log.info("wall clock set: the core's timed checks follow it at once")
            self._clock_unset = False
            self._steady.reset()

    def _clock_settled(self, wall: float) -> None:
        """Clear ``faults.clock`` once the wall clock is plausible and the core's agrees.

        Readings carry their devices' times (or the wall time when they arrived); when
        they lead the core's clock, they are what the core goes by.
        """
        agree = abs(self._steady.apart) <= self.config.clock.step_s
        if (
            (agree or self._steady.floored)  # or the readings' own times lead the core
            and wall >= self._clock_not_before
            and "clock" in self.health.snapshot()["faults"]
        ):
            log.info("wall clock settled: the core's clock agrees with it again")
            self.health.clear_fault("clock")
            self._next_status = 0.0
