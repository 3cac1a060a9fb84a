"""``capleak demo``: the whole product on one machine, in a few minutes.

A virtual patient goes through a capillary-leak course over several days.
Device simulators speak the real serial protocols on pseudo-terminals; the
real agent (``capleak run``, a subprocess with a generated configuration)
reads them, computes the trends and alerts, and publishes over MQTT; a station
view subscribes and prints what a nurse at the central station would see. The
simulators and the agent share one scaled clock (``CAPLEAK_CLOCK``), so the
trends are computed on simulated time.

Without ``--broker`` a private mosquitto is started when one is installed.
With no broker at all the demo says so, shows the alerts from the agent's log
and leaves them in the outbox, as the agent would at the bedside.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.vocabulary import Reading

log = logging.getLogger("capleak.demo")


# -- a private broker -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None
    )


class PrivateBroker:
    """A mosquitto of our own on a free loopback port, stopped with the demo."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        conf = workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"log_dest file {workdir / 'mosquitto.log'}\n"
        )
        self.proc = subprocess.Popen(
            [binary, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while not broker_reachable("127.0.0.1", self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def broker_reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout):
            return True
    except OSError:
        return False


# -- the agent as a subprocess ----------------------------------------------------------


@dataclass
class AgentProcess:
    """``capleak run`` in its own process; its log lines are kept and echoed."""

    config: Path
    clock_spec: str
    echo: bool = True
    local_alerts: bool = False
    lines: list[str] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None
    ready: threading.Event = field(default_factory=threading.Event)

    def start(self) -> AgentProcess:
        env = {**os.environ, "CAPLEAK_CLOCK": self.clock_spec, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "run", "--config", str(self.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, name="agent-log", daemon=True).start()
        return self

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if " ready: " in line:
                self.ready.set()
            if self.echo:
                print(f"  agent | {line}", flush=True)
            elif (
                self.local_alerts
                and (seen := alert_from_log(line)) is not None
                and seen.phase in SHOWN_PHASES
            ):
                print(format_alert(seen), flush=True)

    def stop(self, timeout: float = 20) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)


# -- a station view ---------------------------------------------------------------------


class StationView:
    """The central station for the demo bed: a paho subscriber feeding
    :class:`edge.station.model.Station` (de-duplication by ``msg_id``, ``seq`` gaps, the
    board), printing alert events as they arrive."""

    def __init__(self, host: str, port: int, topic_root: str, clock_start: float) -> None:
        import paho.mqtt.client as mqtt

        from edge.station.model import Station

        self.board = Station(filter=topic_root.removeprefix("capleak/v1/"))
        self.alerts: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self._start = clock_start
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"capleak-demo-station-{os.getpid()}",
            protocol=mqtt.MQTTv5,
        )
        self.client.on_connect = lambda c, *_: c.subscribe(self.board.subscription(), qos=1)
        self.client.on_message = self._on_message
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self._lock:
            rec = self.board.receive(msg.topic, bytes(msg.payload), bool(msg.retain))
            if rec is None or rec.duplicate or rec.error:
                return
            self.counts[rec.kind] = self.counts.get(rec.kind, 0) + 1
            if rec.kind == "alerts":
                self.alerts.append(rec.payload)
            else:
                return
        seen = alert_from_message(rec.payload)
        if seen is not None and seen.phase in SHOWN_PHASES:
            print(format_alert(seen, "STATION", self._start), flush=True)

    def missing(self) -> int:
        with self._lock:
            return sum(v.missing() for v in self.board.beds.values())

    def render(self) -> str:
        with self._lock:
            return self.board.render()

    def close(self) -> None:
        self.client.loop_stop()
        with contextlib.suppress(Exception):
            self.client.disconnect()


def format_alert(alert: SeenAlert, where: str = "LOCAL", start: float | None = None) -> str:
    """One line per alert event, as the station's list would show it."""
    from edge.vocabulary import iso_time

    when = course_time(alert.time, start) if start is not None else iso_time(alert.time)
    return (
        f"{where:<7} {when:<13} {alert.priority.upper():<6} {alert.code:<18} "
        f"{alert.phase:<11} {alert.state:<8} {alert.message}"
    )


@contextlib.contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="capleak-demo-"))
    try:
        yield d
    finally:
        if not keep:
            shutil.rmtree(d, ignore_errors=True)


# -- the course of the virtual patient, split per device -------------------------------

#: The demo bed's devices: id, driver, the scenario signals each one measures.
DEMO_DEVICES: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("spo2", "masimo-ascii", frozenset({"spo2", "pulse", "pi"})),
    ("nibp", "accutorr", frozenset({"sbp", "map", "dbp"})),
    ("scale", "ad-scale", frozenset({"weight"})),
)

#: Which alert codes answer which hold criterion of the virtual patient's truth.
CRITERION_ALERTS: dict[str, tuple[str, ...]] = {
    "sbp": ("hypotension", "bp_falling"),
    "spo2": ("desaturation", "spo2_falling"),
    "weight": ("weight_gain",),
    "hr": ("tachycardia",),
}

#: Phases worth a line in the demo's live view (re-notifications are left out).
SHOWN_PHASES = frozenset({"start", "escalate", "de-escalate", "end"})

#: One SpO2 line per this many simulated seconds (a real oximeter sends one a
#: second; at a few thousand times real speed that would be thousands of lines a
#: second, more than the demo needs to show the trends).
DEMO_SPO2_PERIOD_S = 15.0
#: The perfusion index the demo's oximeter shows once a sensor is back on (%).
NOMINAL_PI = 3.0
#: The demo polls the NIBP monitor this often (simulated s; a real host polls every
#: few seconds) and allows this much slack on the ward's NIBP schedule (the virtual
#: ward measures some patients exactly every 4 h, the default nibp_overdue limit).
DEMO_NIBP_POLL_S = 60
DEMO_NIBP_OVERDUE_MIN = 250


@dataclass
class Course:
    """The virtual patient's readings per device, doses and ground truth."""

    start: float
    days: float
    per_device: dict[str, list[Any]]
    doses: list[float]
    truth: dict[str, Any]
    severity: str
    seed: int
    baseline_weight_kg: float | None = None


def make_course(scenario: str, days: float) -> Course:
    """``scenario`` is a severity (``none|mild|moderate|severe``), optionally ``:SEED``."""
    from edge.lab.patient import SEVERITIES, generate

    name, _, seed_text = scenario.partition(":")
    if name not in SEVERITIES:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SEVERITIES)}")
    seed = int(seed_text) if seed_text else 7
    sc = generate(name, seed=seed, days=days)
    per: dict[str, list[Any]] = {dev: [] for dev, _, _ in DEMO_DEVICES}
    doses: list[float] = []
    route = {sig: dev for dev, _, sigs in DEMO_DEVICES for sig in sigs}
    sensor_off = False
    for item in sc.streams.readings(source="virtual-patient", by_time=True):
        if isinstance(item, float):
            doses.append(item)
            continue
        if item.signal not in route:
            continue
        if item.signal == "pi":
            sensor_off = "sensor_off" in item.flags
        elif sensor_off and item.signal in ("spo2", "pulse"):
            # The virtual patient reports a sensor-off as flagged PI readings and
            # then simply resumes SpO2/pulse; the oximeter simulator keeps each
            # signal's last flags, so say "sensor back on" with a nominal PI.
            per["spo2"].append(Reading.of("pi", NOMINAL_PI, time=item.time, source=item.source))
            sensor_off = False
        per[route[item.signal]].append(item)
    entered = getattr(sc.streams, "baseline_weight", None)
    return Course(sc.streams.start, days, per, doses, dict(sc.truth), name, seed, entered)


def demo_config(
    path: Path,
    *,
    broker_url: str,
    state_dir: Path,
    ports: dict[str, str],
    course: Course,
    speed: float,
) -> Path:
    """The agent's configuration for the demo bed (a normal capleak.toml)."""
    from edge.vocabulary import iso_time

    first_dose = course.doses[0] if course.doses else course.start + 8 * 3600
    weight = (
        f"baseline_weight_kg = {course.baseline_weight_kg:g}  # entered at admission"
        if course.baseline_weight_kg
        else ""
    )
    devices = []
    for dev, driver, _ in DEMO_DEVICES:
        lines = [
            "[[devices]]",
            f'id = "{dev}"',
            f'driver = "{driver}"',
            f'port = "{ports[dev]}"',
        ]
        if driver == "accutorr":
            lines.append(f"poll_interval_s = {DEMO_NIBP_POLL_S}")
        devices.append("\n".join(lines))
    text = f"""# Generated by `capleak demo` (speed x{speed:g}); a normal capleak configuration.
[bed]
site = "demo"
unit = "ward"
bed = "bed-1"

{chr(10).join(devices)}

[broker]
url = "{broker_url}"
client_id = "capleak-demo-{os.getpid()}"

[patient]
dose_start = "{iso_time(first_dose)}"
dose_interval_h = 8
{weight}
[thresholds]
nibp_overdue_min = {DEMO_NIBP_OVERDUE_MIN}

[storage]
state_dir = "{state_dir}"

[publish]
vitals_batch_s = 60
trends_interval_s = 3600
renotify_min = 60
"""
    path.write_text(text)
    return path


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


# -- alerts seen, and the summary -------------------------------------------------------

#: ``alert CODE PHASE (PRIORITY, STATE) at ISO: MESSAGE`` (edge.agent.runtime's log line).
ALERT_LOG = re.compile(
    r"alert (?P<code>\S+) (?P<phase>\S+) \((?P<priority>\w+), (?P<state>\w+)\) "
    r"at (?P<time>\S+): (?P<message>.*)$"
)


@dataclass(frozen=True, slots=True)
class SeenAlert:
    time: float
    code: str
    phase: str
    priority: str
    state: str
    message: str
    source: str = ""


def alert_from_log(line: str) -> SeenAlert | None:
    from edge.vocabulary import parse_time

    m = ALERT_LOG.search(line)
    if not m:
        return None
    return SeenAlert(
        parse_time(m["time"]), m["code"], m["phase"], m["priority"], m["state"], m["message"]
    )


def alert_from_message(body: dict[str, Any]) -> SeenAlert | None:
    from edge.vocabulary import parse_time

    a = body.get("alert")
    if not isinstance(a, dict) or "event_time" not in a:
        return None
    return SeenAlert(
        parse_time(a["event_time"]),
        str(a.get("code")),
        str(a.get("phase")),
        str(a.get("priority")),
        str(a.get("state")),
        str(a.get("message", "")),
        str(a.get("source", "")),
    )


def course_time(t: float, start: float) -> str:
    """Simulated time as ``day N HH:MM`` from the course start (day 1 = the first day)."""
    s = max(0.0, t - start)
    day = int(s // 86400) + 1
    rest = s % 86400
    return f"day {day} {int(rest // 3600):02d}:{int(rest % 3600 // 60):02d}"


#: Look-back for "first related alert", as in the evaluation's detection window
#: (``edge/lab/evaluation/metrics.py``).
LEAD_WINDOW_H = 12.0
LEAD_WINDOW_S = LEAD_WINDOW_H * 3600


def summary(course: Course, alerts: list[SeenAlert], thresholds: Any) -> str:
    """The alerts raised and when, against the virtual patient's hold criteria."""
    lines = [
        "",
        f"Summary: {course.severity} capillary leak (seed {course.seed}), "
        f"{course.days:g} simulated days",
        "",
        "Alerts raised (start and escalation events):",
    ]
    raised = [a for a in alerts if a.phase in ("start", "escalate")]
    if not raised:
        lines.append("  none")
    for a in raised:
        src = f" [{a.source}]" if a.source else ""
        lines.append(
            f"  {course_time(a.time, course.start):<13} {a.priority.upper():<6} "
            f"{a.code}{src} {a.phase}: {a.message}"
        )
    lines += [
        "",
        "Hold criteria (decision support: the clinician decides):",
        f"  {'criterion':<34} {'truly first met':<16} {'first related alert':<34} lead",
    ]
    names = {
        "sbp": f"SBP < {thresholds.hold_sbp_mmhg:g} mmHg",
        "spo2": f"SpO2 < {thresholds.hold_spo2_pct:g} %",
        "weight": f"weight gain > {thresholds.hold_weight_gain_pct:g} %",
        "hr": f"HR > {thresholds.hold_hr_absolute_bpm:g} /min",
    }
    crit = course.truth.get("hold_criteria_first_met_s", {})
    for key, label in names.items():
        met = crit.get(key)
        met_t = None if met is None else course.start + float(met)
        related = [a for a in raised if a.code in CRITERION_ALERTS[key]]
        # An alert long before the criterion is not its warning (the evaluation's
        # detection window looks back LEAD_WINDOW_H too): say so rather than claim a lead.
        stale = [] if met_t is None else [a for a in related if a.time < met_t - LEAD_WINDOW_S]
        related = [a for a in related if a not in stale]
        first = min(related, key=lambda a: a.time) if related else None
        met_s = "not met" if met_t is None else course_time(met_t, course.start)
        alert_s = "-" if first is None else f"{first.code} {course_time(first.time, course.start)}"
        if met_t is not None and first is not None:
            lead_h = (met_t - first.time) / 3600
            lead = f"{lead_h:+.1f} h" + (" (before)" if lead_h >= 0 else " (after)")
        elif met_t is not None:
            lead = "MISSED"
        else:
            lead = "" if first is None else "(no criterion met: early warning or false alert)"
        if stale:
            lead += f" ({len(stale)} earlier, > {LEAD_WINDOW_H:g} h before: not counted)"
        lines.append(f"  {label:<34} {met_s:<16} {alert_s:<34} {lead}")
    holds = [a for a in raised if a.code == "dose_hold_advised"]
    first_hold = course.truth.get("first_hold_s")
    lines.append(
        "  first dose hold advised: "
        + (course_time(holds[0].time, course.start) if holds else "never")
        + "; first hold criterion truly met: "
        + ("never" if first_hold is None else course_time(course.start + first_hold, course.start))
    )
    return "\n".join(lines)


# -- the demo ---------------------------------------------------------------------------


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
    say("every message in its outbox and the alerts are shown here from its log.")
    return f"mqtt://127.0.0.1:{free_port()}", False


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
    agent = AgentProcess(cfg, clock.spec, echo=verbose, local_alerts=not have_broker)
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
    if station is not None:
        seen = [a for a in map(alert_from_message, station.alerts) if a is not None]
    else:
        seen = [a for a in map(alert_from_log, agent.lines) if a is not None]
    say(summary(course, seen, Thresholds()))
    say("")
    if station is not None:
        say("The station's board at the end:")
        say("\n".join("  " + line for line in station.render().splitlines()))
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


def count_outbox(state_dir: Path) -> int:
    import sqlite3

    db = state_dir / "outbox.sqlite3"
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        con.close()
