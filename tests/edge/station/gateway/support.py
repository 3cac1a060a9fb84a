"""Real parts for the gateway's tests: an MLLP receiver process, a bed publishing the
MQTT contract, the ``capleak gateway`` process.

Every payload the bed publishes is validated with ``jsonschema`` against the shipped
schema first, so the tests feed the gateway only what a real agent may send (except
where a test sends bad input on purpose, with :meth:`Bed.publish_raw`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import paho.mqtt.client as mqtt

from edge.messaging.commands import load_schema
from edge.vocabulary import SIGNALS, iso_time
from tests.support import REPO, free_port, wait_for

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class MllpReceiver:
    """``mllp_receiver.py`` in its own process; ``messages()`` reads what it received."""

    def __init__(self, workdir: Path, *, refuse: tuple[str, ...] = (), ora: bool = False):
        self.port = free_port()
        self.out = Path(workdir) / f"received-{self.port}.jsonl"
        self.refuse = refuse
        self.ora = ora
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"mllp://127.0.0.1:{self.port}"

    def start(self) -> MllpReceiver:
        cmd = [sys.executable, "-m", "tests.edge.station.gateway.mllp_receiver"]
        cmd += ["--port", str(self.port), "--out", str(self.out)]
        for r in self.refuse:
            cmd += ["--refuse", r]
        if self.ora:
            cmd.append("--ora")
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("ready"), f"receiver did not start: {line!r}"
        return self

    def kill(self) -> None:
        """SIGKILL, like a crash of the receiving system."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        self.kill()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()

    def messages(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        text = self.out.read_text("utf-8")
        # the receiver may be writing its last line right now: only whole lines count
        lines = text[: text.rfind("\n") + 1].splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def unique(self) -> list[dict[str, Any]]:
        """First copy of each control id (delivery is at-least-once), in arrival order."""
        seen: set[str] = set()
        out = []
        for m in self.messages():
            if m["control_id"] not in seen:
                seen.add(m["control_id"])
                out.append(m)
        return out

    def wait_for(self, n: int, timeout: float = 20.0, kind: str = "") -> list[dict[str, Any]]:
        def enough() -> list[dict[str, Any]] | None:
            got = [m for m in self.unique() if m["type"].startswith(kind)]
            return got if len(got) >= n else None

        return wait_for(enough, timeout, 0.05, f"{n} {kind or 'HL7'} messages")


class FhirReceiver:
    """``fhir_receiver.py`` (stdlib ``http.server``) in its own process; ``posts()`` reads
    what it received, in order."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.out = Path(workdir) / f"fhir-{self.port}.jsonl"
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def start(self) -> FhirReceiver:
        cmd = [sys.executable, "-m", "tests.edge.station.gateway.fhir_receiver"]
        cmd += ["--port", str(self.port), "--out", str(self.out)]
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("ready"), f"FHIR receiver did not start: {line!r}"
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()

    def posts(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        text = self.out.read_text("utf-8")
        lines = text[: text.rfind("\n") + 1].splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def wait_for(self, n: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        return wait_for(
            lambda: (got := self.posts()) and len(got) >= n and got, timeout, 0.05, f"{n} POSTs"
        )


def segments(raw: str) -> list[list[str]]:
    return [s.split("|") for s in raw.strip("\r").split("\r")]


def obx_values(raw: str) -> dict[str, str]:
    """OBX-3 identifier -> OBX-5 of a message."""
    return {s[3].split("^")[0]: s[5] for s in segments(raw) if s[0] == "OBX"}


class Bed:
    """An agent's MQTT side, reduced to what the gateway reads: valid payloads, QoS 1."""

    def __init__(self, host: str, port: int, bed: str = "h1/icu/b3") -> None:
        self.bed = bed
        self.seq = 0
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"bed-{uuid.uuid4().hex[:8]}"
        )
        self.client.connect(host, port)
        self.client.loop_start()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def _stamp(self, body: dict[str, Any], t: float) -> dict[str, Any]:
        self.seq += 1
        return {"msg_id": str(uuid.uuid4()), "seq": self.seq, "time": iso_time(t), **body}

    def publish_raw(self, kind: str, payload: bytes, retain: bool = False) -> None:
        info = self.client.publish(f"capleak/v1/{self.bed}/{kind}", payload, qos=1, retain=retain)
        info.wait_for_publish(10)

    def publish(self, kind: str, body: dict[str, Any], retain: bool = False) -> dict[str, Any]:
        schema = {"vitals": "vitals", "alerts": "alert", "alerts/active": "alerts-active"}[kind]
        jsonschema.validate(body, load_schema(schema))
        self.publish_raw(kind, json.dumps(body).encode(), retain)
        return body

    def vitals(self, t: float, values: dict[str, float], source: str = "masimo") -> dict:
        readings = [
            {
                "signal": s,
                "value": v,
                "unit": SIGNALS[s].unit.value,
                "source": source,
                "flags": [],
                "mdc": SIGNALS[s].mdc_code,
                "mdc_refid": SIGNALS[s].mdc_refid,
                "loinc": SIGNALS[s].loinc,
                "time": iso_time(t),
            }
            for s, v in values.items()
        ]
        return self.publish("vitals", self._stamp({"readings": readings}, t))

    def alert(self, t: float, n: int = 1, **fields: Any) -> dict:
        event = {
            "alert_id": f"a{n}",
            "code": "desaturation",
            "source": "",
            "priority": "high",
            "kind": "physiological",
            "state": "active",
            "inactivation": "enabled",
            "since": iso_time(t),
            "message": "SpO2 88 % below 90 % (SatSeconds 120)",
            "values": {"spo2": 88.0, "limit": 90.0, "satseconds": 120.0},
            "notifications": 1,
            "phase": "start",
            "event_time": iso_time(t),
            **fields,
        }
        return self.publish("alerts", self._stamp({"alert": event}, t))


def gateway_cmd(broker_url: str, hl7_url: str, state_dir: Path, *extra: str) -> list[str]:
    exe = shutil.which("capleak", path=os.path.dirname(sys.executable))
    base = [exe] if exe else [sys.executable, "-m", "edge.cli"]
    return [
        *base,
        "-v",
        "gateway",
        "--broker",
        broker_url,
        "--hl7",
        hl7_url,
        "--state-dir",
        str(state_dir),
        "--client-id",
        f"gw-{uuid.uuid4().hex[:8]}",
        "--retry-max-s",
        "1",
        *extra,
    ]


class Gateway:
    """``capleak gateway`` as a real subprocess; ``stop()`` returns its summary.

    Its stderr goes through a pipe into ``log`` (copied by a thread of the test process),
    so a limit put on the gateway's own file writes (a test's full disk) never cuts its
    log short."""

    def __init__(self, cmd: list[str], log: Path) -> None:
        self.cmd = cmd
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self._copier: threading.Thread | None = None

    def start(self) -> Gateway:
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._copier = threading.Thread(target=self._copy, args=(self.proc.stderr,), daemon=True)
        self._copier.start()
        wait_for(
            lambda: "subscribing" in self.stderr(),
            15,
            0.05,
            "the gateway to subscribe",
        )
        return self

    def _copy(self, pipe: Any) -> None:
        with open(self.log, "ab") as f:
            for line in pipe:
                f.write(line)
                f.flush()

    def _join(self) -> None:
        if self._copier is not None:
            self._copier.join(10)

    def stop(self) -> dict[str, Any]:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        self._join()
        assert self.proc.returncode == 0, self.stderr()
        return json.loads(out.decode().strip().splitlines()[-1])

    def kill(self) -> None:
        """SIGKILL, like a power cut of the gateway's host."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self._join()

    def stderr(self) -> str:
        return self.log.read_text("utf-8", "replace") if self.log.exists() else ""
