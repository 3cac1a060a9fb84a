"""``capleak demo``: the whole product on one machine, in a few minutes (the orchestration).

Starts, in order, a private broker (or not), the device simulators on ptys
(:mod:`edge.lab.demo.bedside`), the station view (:mod:`edge.lab.demo.station`) and the
real agent as its service manager (:mod:`edge.lab.demo.agent`); shows progress and the
alert events as they arrive; stops everything, Ctrl-C included, and prints the summary
(:mod:`edge.lab.demo.summary`), the station's board and what is left in the outbox.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from edge.lab.demo.agent import AgentProcess
from edge.lab.demo.alerts import (
    OutboxAlerts,
    SeenAlert,
    Transitions,
    alert_from_message,
    count_outbox,
    course_time,
    format_alert,
)
from edge.lab.demo.bedside import DeviceSimulators
from edge.lab.demo.broker import PrivateBroker, broker_reachable, find_mosquitto, free_port
from edge.lab.demo.course import DEMO_DEVICES, Course, demo_config, make_course
from edge.lab.demo.station import StationView
from edge.lab.demo.summary import summary


@contextlib.contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="capleak-demo-"))
    try:
        yield d
    finally:
        if not keep:
            shutil.rmtree(d, ignore_errors=True)


def say(text: str = "") -> None:
    """Demo output for the person watching (the CLI's user interface)."""
    print(text, flush=True)


def run_demo(
    *,
    broker: str | None,
    scenario: str,
    speed: float | None,
    duration: float,
    days: float,
    keep: bool = False,
    verbose: bool = False,
) -> int:
    if speed is None:
        speed = days * 86400.0 / duration
    else:
        days = min(30.0, max(0.05, speed * duration / 86400.0))
    say(f"capleak demo: building a virtual patient ({scenario}, {days:g} days)...")
    try:
        course = make_course(scenario, days)
    except ValueError as e:
        say(f"capleak demo: {e}")
        return 2
    # Everything started from here on is stopped on the way out, Ctrl-C included.
    with contextlib.ExitStack() as stack:
        wd = stack.enter_context(workdir(keep))
        url, have_broker = _choose_broker(broker, wd, stack)
        return _play(course, url, have_broker, speed, days, duration, wd, keep, verbose, stack)
    return 1  # not reached (the with-block returns); keeps type checkers content


def _choose_broker(broker: str | None, wd: Path, stack: contextlib.ExitStack) -> tuple[str, bool]:
    """The broker URL to use, and whether a broker answers there."""
    from edge.messaging.mqtt import parse_broker_url

    if broker:
        addr = parse_broker_url(broker)
        if broker_reachable(addr.host, addr.port):
            return broker, True
        say(f"No MQTT broker answers at {broker}: the agent will keep every message in its")
        say("outbox (and send them when the broker appears); alerts are shown here.")
        return broker, False
    binary = find_mosquitto()
    if binary is not None:
        try:
            private = PrivateBroker(binary, wd)
        except (RuntimeError, OSError) as e:
            say(f"Could not start a private mosquitto ({e}).")
        else:
            stack.callback(private.stop)
            say(f"Started a private mosquitto at {private.url}.")
            return private.url, True
    say("No MQTT broker: mosquitto is not available and no --broker was given")
    say("(install it with `apt-get install mosquitto`). The agent still runs: it keeps")
    say("every message in its outbox and the alerts are shown here from the outbox.")
    return f"mqtt://127.0.0.1:{free_port()}", False


def _start_board(url: str, stack: contextlib.ExitStack) -> None:
    """The ward board on a free loopback port (``docs/board.md``); the demo goes on without it."""
    from edge.config import BrokerConfig, ConfigError
    from edge.station.board import open_board

    try:
        board = open_board(BrokerConfig(url=url), ("127.0.0.1", 0), connect_timeout=5)
    except (OSError, ConfigError) as e:
        say(f"The ward board did not start ({e}).")
        return
    assert board.link is not None
    stack.callback(board.link.stop)
    stack.callback(board.stop)
    say(f"Ward board: {board.url} (open it in a browser while the demo runs).")


def _play(
    course: Course,
    url: str,
    have_broker: bool,
    speed: float,
    days: float,
    duration: float,
    wd: Path,
    keep: bool,
    verbose: bool,
    stack: contextlib.ExitStack,
) -> int:
    from edge.clock import SharedScaledClock
    from edge.config import Thresholds
    from edge.messaging.mqtt import parse_broker_url

    # Anchor the shared clock a moment ahead, so the course starts once all is up.
    clock = SharedScaledClock(course.start, speed, anchor=time.time() + 1.5)
    sims = DeviceSimulators(course, clock, wd)
    sims.start()
    stack.callback(sims.stop)
    if not sims.wait_open():
        say("capleak demo: the device simulators could not open their ptys")
        return 1
    state_dir = wd / "state"
    cfg = demo_config(
        wd / "capleak.toml",
        broker_url=url,
        state_dir=state_dir,
        ports=sims.ports,
        course=course,
        speed=speed,
    )
    station = None
    if have_broker:
        addr = parse_broker_url(url)
        station = StationView(addr.host, addr.port, "capleak/v1/demo/ward/bed-1", course.start)
        stack.callback(station.close)
        _start_board(url, stack)
    agent = AgentProcess(cfg, clock.spec, wd, echo=verbose)
    # No station: the alert events are read where the agent keeps them, its outbox.
    local = None if station is not None else OutboxAlerts(state_dir)
    say(
        f"Devices on ptys: {', '.join(f'{d} ({drv})' for d, drv, _ in DEMO_DEVICES)}; "
        f"agent: capleak run --config {cfg}"
    )
    say(
        f"Playing {days:g} days at x{speed:.0f} in about {duration:.0f} s "
        f"(simulated time; Ctrl-C stops early)."
    )
    say("")
    stop = threading.Event()
    transitions = Transitions()
    old = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        agent.start()
        end = clock.anchor + duration
        next_progress = time.time() + duration / 8
        while not stop.is_set() and time.time() < end:
            if agent.proc is not None and agent.proc.poll() is not None:
                say(f"The agent stopped unexpectedly (exit {agent.proc.returncode}):")
                for line in agent.lines[-15:]:
                    say(f"  agent | {line}")
                break
            if local is not None and agent.ready.is_set():  # READY=1: its outbox is open
                _show_local(local.poll(), verbose, transitions)
            if time.time() >= next_progress:
                next_progress += duration / 8
                if clock.now() >= course.start:
                    say(f"  ... {course_time(clock.now(), course.start)}")
            stop.wait(0.2)
    finally:
        signal.signal(signal.SIGINT, old)
        rc_agent = agent.stop()  # SIGTERM: the agent flushes and says offline
        sims.stop()
        time.sleep(0.3)  # the last messages reach the station
    if local is not None:
        _show_local(local.poll(), verbose, transitions)  # what it committed while stopping
        seen = local.seen
    else:
        assert station is not None
        seen = [a for a in map(alert_from_message, station.alerts) if a is not None]
    say(summary(course, seen, Thresholds()))
    say("")
    if station is not None:
        say("The station's board at the end:")
        say("\n".join("  " + line for line in station.render_at_end().splitlines()))
        say("")
        say(
            f"Station received {sum(station.counts.values())} messages "
            f"({', '.join(f'{k} {v}' for k, v in sorted(station.counts.items()))}); "
            f"seq gaps: {station.missing()}."
        )
    kept = count_outbox(state_dir)
    if kept:
        say(f"{kept} message(s) are still in the agent's outbox ({state_dir}).")
    say(f"Agent exit status {rc_agent}." + (f" Files kept in {wd}." if keep else ""))
    return 0 if rc_agent == 0 else 1


def _show_local(alerts: list[SeenAlert], verbose: bool, transitions: Transitions) -> None:
    """``LOCAL`` lines for the alert events read from the outbox (with ``-v`` the agent's
    own log, echoed, already shows them)."""
    if verbose:
        return
    for seen in alerts:
        if transitions.shown(seen):
            say(format_alert(seen))
