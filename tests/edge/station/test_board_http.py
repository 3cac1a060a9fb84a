"""``capleak board`` over real sockets: the API, events, commands to a live agent, bad input.

The board runs as the real console script; a real mosquitto carries a stay published
by the real core through the real Dispatcher, which also answers the board's commands.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request

import pytest

from edge.vocabulary import Reading
from tests.edge.station.board_support import LiveAgent, NoRedirect, board, call
from tests.support import Mosquitto, free_port, run_cli, wait_for


@pytest.fixture
def agent(mosquitto: Mosquitto, tmp_path):
    a = LiveAgent(mosquitto.url, tmp_path / "agent")
    yield a
    a.close()


def read_events(url: str, n: int, timeout: float = 20) -> list[tuple[str, dict]]:
    """The first ``n`` events of ``GET /api/events``, parsed."""
    events = []
    with urllib.request.urlopen(url + "/api/events", timeout=timeout) as r:
        assert r.headers["Content-Type"] == "text/event-stream"
        kind = None
        for raw in r:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind:
                events.append((kind, json.loads(line[6:])))
                if len(events) >= n:
                    break
    return events


def test_tiles_history_events_and_an_ack_answered_by_the_agent(
    mosquitto: Mosquitto, agent: LiveAgent
) -> None:
    with board("--broker", mosquitto.url, "--listen", "127.0.0.1:0") as b:
        agent.publish_stay()
        beds = wait_for(
            lambda: [x for x in call("GET", b.url + "/api/beds")[2] if x["dose_check"]],
            message="the stay on the board",
        )
        (tile,) = beds
        assert tile["bed"] == "s1/u1/b1" and tile["online"] is True
        assert (tile["level"], tile["state"]) == ("high", "alarm")
        hypo = next(a for a in tile["alerts"] if a["code"] == "hypotension")
        assert (hypo["priority"], hypo["state"], hypo["inactivation"]) == (
            "high",
            "active",
            "enabled",
        )
        assert tile["vitals"]["sbp"]["value"] == 78
        assert tile["dose_verdict"].startswith("Dose 2: hold advised: sbp 78")
        assert 0 < tile["weight_gain_pct"] < 2
        assert tile["missing"] == 0
        # 24 h sparkline: one 5-minute bucket per 2-minute reading pair, at most 288
        assert 60 <= len(tile["spark"]["spo2"]) <= 288 and tile["spark"]["sbp"]
        status, _, detail = call("GET", b.url + "/api/beds/s1/u1/b1")
        assert status == 200
        sbp = detail["history"]["vitals"]["sbp"]
        assert {p[1] for p in sbp} >= {122, 78}
        assert [e["code"] for e in detail["history"]["alert_events"]].count("hypotension") >= 1
        assert detail["trends"]["signals"]["sbp"]["limit"] == 90

        # ack over HTTP: the board sends cmd/ack, the agent answers, the tile changes
        _, _, session = call("GET", b.url + "/api/session")
        status, _, answer = call(
            "POST",
            b.url + "/api/beds/s1/u1/b1/ack",
            {"alert_id": hypo["alert_id"]},
            {"X-CSRF-Token": session["csrf"]},
        )
        assert status == 200, answer
        assert answer["reply"]["ok"] is True and answer["reply"]["command"] == "ack"
        assert hypo["alert_id"] in answer["reply"]["result"]["alerts"]

        def acked() -> bool:
            alerts = call("GET", b.url + "/api/beds")[2][0]["alerts"]
            return any(
                a["alert_id"] == hypo["alert_id"] and a["inactivation"] == "acknowledged"
                for a in alerts
            )

        wait_for(acked, message="the acknowledged alert on the board")
        # the reply came on the MQTT 5 response topic and was fed to the model: no false gap
        assert call("GET", b.url + "/api/beds")[2][0]["missing"] == 0

        # silence: one event per change reaches an open event stream
        status, _, answer = call(
            "POST",
            b.url + "/api/beds/s1/u1/b1/silence",
            {"duration_s": 60},
            {"X-CSRF-Token": session["csrf"]},
        )
        assert status == 200 and answer["reply"]["ok"] is True
        stats = call("GET", b.url + "/api/stats")[2]
        assert stats["connected"] and stats["beds"] == 1 and stats["duplicates"] == 0


def test_one_event_per_change(mosquitto: Mosquitto, agent: LiveAgent) -> None:
    with board("--broker", mosquitto.url, "--listen", "127.0.0.1:0") as b:
        agent.dispatcher.output(agent.core.trends(1_790_000_000))
        wait_for(lambda: call("GET", b.url + "/api/beds")[2], message="the bed")
        got: list = []
        t = threading.Thread(target=lambda: got.extend(read_events(b.url, 3)), daemon=True)
        t.start()
        wait_for(lambda: call("GET", b.url + "/api/stats")[2]["streams"] == 1, message="stream")
        for v in (96, 95, 94):  # three vitals messages: three events
            agent.dispatcher.readings([Reading.of("spo2", v, time=1_790_000_000 + v)])
            agent.dispatcher.publisher.flush()
        t.join(20)
        assert [k for k, _ in got] == ["bed", "bed", "bed"]
        assert [e["bed"]["vitals"]["spo2"]["value"] for _, e in got] == [96, 95, 94]


def test_bad_input_gets_clear_errors(mosquitto: Mosquitto, agent: LiveAgent) -> None:
    with board("--broker", mosquitto.url, "--listen", "127.0.0.1:0") as b:
        agent.dispatcher.output(agent.core.trends(1_790_000_000))
        wait_for(lambda: call("GET", b.url + "/api/beds")[2], message="the bed")
        csrf = {"X-CSRF-Token": call("GET", b.url + "/api/session")[2]["csrf"]}
        post = b.url + "/api/beds/s1/u1/b1/ack"
        cases = [
            (call("GET", b.url + "/api/beds/s1/u1/nope"), 404, "unknown bed"),
            (call("GET", b.url + "/api/beds/s1/u1"), 404, "no such resource"),
            (call("GET", b.url + "/api/beds/../../etc/passwd"), 404, "no such"),
            (call("POST", b.url + "/api/beds/s1/u1/nope/ack", {"alert_id": "x"}, csrf), 404,
             "unknown bed"),
            (call("POST", post, raw=b"{not json", headers=csrf), 400, "bad JSON"),
            (call("POST", post, [1, 2], csrf), 400, "JSON object"),
            (call("POST", post, {}, csrf), 400, "alert_id"),
            (call("POST", post, {"alert_id": "x", "evil": 1}, csrf), 400, "unknown field"),
            (call("POST", post, {"alert_id": "hypotension/-/1"}, csrf), 404, "no active"),
            (call("POST", post, {"alert_id": "x"}), 403, "X-CSRF-Token"),
            (call("POST", post, {"alert_id": "x"}, {"X-CSRF-Token": "forged"}), 403, "CSRF"),
            (call("POST", b.url + "/api/beds/s1/u1/b1/silence", {"duration_s": 901}, csrf), 400,
             "duration_s"),
            (call("POST", post, raw=b"x" * 5000, headers=csrf), 413, "body over"),
            (call("POST", post, {"alert_id": "x"}, {**csrf, "Origin": "http://evil.example"}),
             403, "cross-origin"),
            (call("GET", b.url + "/api/beds", headers={"Host": "evil.example:80"}), 403,
             "Host"),
        ]  # fmt: skip
        for (status, _, body), want, text in cases:
            assert status == want, (want, text, body)
            assert text in body["error"], (text, body)
        status, h, _ = call("GET", b.url + "/")
        assert status == 200 and "script-src" not in h["Content-Security-Policy"]
        assert "default-src 'self'" in h["Content-Security-Policy"]


def test_off_loopback_without_auth_file_exits_78(mosquitto: Mosquitto) -> None:
    out = run_cli("board", "--broker", mosquitto.url, "--listen", f"0.0.0.0:{free_port()}")
    assert out.returncode == 78
    assert b"not a loopback address" in out.stderr and b"--auth-file" in out.stderr
    out = run_cli("board", "--broker", mosquitto.url, "--listen", "nonsense")
    assert out.returncode == 2 and b"HOST:PORT" in out.stderr


def test_auth_file_login_session_and_csrf(mosquitto: Mosquitto, agent: LiveAgent, tmp_path):
    users = tmp_path / "users"
    out = run_cli("board", "passwd", "--auth-file", str(users), "--user", "rn-4",
                  input=b"correct horse\n")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert oct(os.stat(users).st_mode & 0o777) == "0o600"
    text = users.read_text()
    assert "correct horse" not in text and "rn-4:scrypt$16384$8$1$" in text
    os.chmod(users, 0o644)
    out = run_cli("board", "--broker", mosquitto.url, "--auth-file", str(users))
    assert out.returncode == 78 and b"chmod 600" in out.stderr
    os.chmod(users, 0o600)
    # loopback here: the tests send traffic to loopback only; the auth is the same off it
    with board(
        "--broker", mosquitto.url, "--listen", "127.0.0.1:0", "--auth-file", str(users)
    ) as b:
        agent.dispatcher.output(agent.core.trends(1_790_000_000))
        assert call("GET", b.url + "/api/beds")[0] == 401
        opener = urllib.request.build_opener(NoRedirect)
        try:
            opener.open(b.url + "/")
            raise AssertionError("the page without a session must redirect")
        except urllib.error.HTTPError as e:
            assert e.code == 303 and e.headers["Location"] == "/login"
        bad = call("POST", b.url + "/login", {"username": "rn-4", "password": "wrong"})
        assert bad[0] == 401 and "wrong user name or password" in bad[2]["error"]
        assert call("POST", b.url + "/login", {"username": "x", "password": "wrong"})[0] == 401
        status, h, body = call(
            "POST", b.url + "/login", {"username": "rn-4", "password": "correct horse"}
        )
        assert status == 200 and body["user"] == "rn-4"
        cookie = h["Set-Cookie"].split(";")[0]
        assert "HttpOnly" in h["Set-Cookie"] and "SameSite=Strict" in h["Set-Cookie"]
        auth = {"Cookie": cookie}
        wait_for(lambda: call("GET", b.url + "/api/beds", headers=auth)[2], message="the bed")
        session = call("GET", b.url + "/api/session", headers=auth)[2]
        assert session["user"] == "rn-4" and session["auth"] is True
        post = b.url + "/api/beds/s1/u1/b1/silence"
        assert call("POST", post, {"duration_s": 30}, auth)[0] == 403  # no CSRF token
        assert call("POST", post, {"duration_s": 30}, {"X-CSRF-Token": session["csrf"]})[0] == 401
        status, _, answer = call(
            "POST", post, {"duration_s": 30}, {**auth, "X-CSRF-Token": session["csrf"]}
        )
        # the agent's own answer (no alert to silence) comes back through the board
        assert status == 200 and answer["reply"]["error"]["code"] == "unknown_alert"
        out_hdrs = {**auth, "X-CSRF-Token": session["csrf"]}
        assert call("POST", b.url + "/logout", {}, out_hdrs)[0] == 200
        assert call("GET", b.url + "/api/beds", headers=auth)[0] == 401
