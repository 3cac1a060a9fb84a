"""The demo bed's devices: simulators on ptys speaking their real serial protocols."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from edge.lab.demo.course import DEMO_DEVICES, DEMO_SPO2_PERIOD_S, Course

log = logging.getLogger("capleak.demo")


class DeviceSimulators:
    """The demo's bedside devices on ptys, speaking their real protocols (one thread each).

    Each pty is reached through a stable symlink in ``workdir`` (as a udev
    ``SYMLINK+=`` name would be), so the agent's configuration can name it
    before the simulator has opened it.
    """

    def __init__(self, course: Course, clock: Any, workdir: Path) -> None:
        from drivers.simulator import PtyEndpoint, Simulator, make_model

        self.sims = []
        self.ports: dict[str, str] = {}
        for dev, driver, _ in DEMO_DEVICES:
            model = make_model(driver, {})
            if driver == "masimo-ascii":
                # the demo slows the oximeter down; models keep period_s as a plain attribute
                model.period_s = DEMO_SPO2_PERIOD_S  # type: ignore[misc]
            link = workdir / f"capleak-{dev}"
            sim = Simulator(model, PtyEndpoint(str(link)), iter(course.per_device[dev]), clock)
            self.ports[dev] = str(link)
            self.sims.append(sim)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for sim in self.sims:
            t = threading.Thread(target=self._run, args=(sim,), daemon=True)
            t.start()
            self._threads.append(t)

    def _run(self, sim: Any) -> None:
        try:
            sim.run(self._stop.is_set)
        except Exception:
            log.exception("simulator failed")

    def wait_open(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(os.path.exists(p) for p in self.ports.values()):
                return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)
