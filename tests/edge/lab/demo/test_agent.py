"""The demo as the agent's service manager: readiness and status from notify messages only.

Real processes and real AF_UNIX datagram sockets; nothing is mocked.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from edge.agent.sdnotify import Notifier
from edge.lab.demo.agent import AgentProcess, NotifySocket
from tests.support import free_port, wait_for

#: A stand-in agent that speaks the notify protocol through the agent's own Notifier
#: and prints nothing at all.
SILENT_SERVICE = textwrap.dedent(
    """
    import signal, threading
    from edge.agent.sdnotify import Notifier

    n = Notifier()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # as the runtime: only a flag
    n.ready("1/1 devices online, broker connected, outbox 0")
    while not stop.wait(0.05):
        pass
    n.stopping("stopping: SIGTERM")
    """
)

#: A stand-in that logs the agent's ready line but never notifies.
LOGS_READY_ONLY = textwrap.dedent(
    """
    import time
    print("2026-01-05 00:00:00,000 INFO ready: 1/1 devices online", flush=True)
    time.sleep(30)
    """
)


def test_a_silent_process_that_sends_ready_is_detected_as_ready(tmp_path: Path) -> None:
    agent = AgentProcess(
        tmp_path / "unused.toml",
        "",
        tmp_path,
        echo=False,
        command=[sys.executable, "-c", SILENT_SERVICE],
    ).start()
    try:
        assert agent.wait_ready(20), "READY=1 on the notify socket was not seen"
        assert agent.notices is not None
        assert agent.notices.status == "1/1 devices online, broker connected, outbox 0"
        assert not agent.notices.stopping.is_set()
    finally:
        rc = agent.stop()
    assert rc == 0
    assert agent.lines == [], "the stand-in printed nothing: readiness came from the socket"
    assert agent.notices.stopping.is_set()
    assert agent.notices.status == "stopping: SIGTERM"
    assert not (tmp_path / "agent.notify").exists(), "the socket is removed with the agent"


def test_a_ready_log_line_without_the_notify_message_is_not_readiness(tmp_path: Path) -> None:
    agent = AgentProcess(
        tmp_path / "unused.toml",
        "",
        tmp_path,
        echo=False,
        command=[sys.executable, "-c", LOGS_READY_ONLY],
    ).start()
    try:
        wait_for(lambda: agent.lines, message="the log line")
        assert " ready: " in agent.lines[0]
        assert not agent.wait_ready(1.0)
    finally:
        agent.stop()


def test_the_real_agent_says_ready_status_and_stopping_on_the_socket(tmp_path: Path) -> None:
    config = tmp_path / "capleak.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [bed]
            site = "demo"
            unit = "ward"
            bed = "bed-1"

            [broker]
            url = "mqtt://127.0.0.1:{free_port()}"

            [storage]
            state_dir = "{tmp_path / "state"}"
            """
        )
    )
    agent = AgentProcess(config, "", tmp_path, echo=False).start()
    try:
        assert agent.wait_ready(60), "\n".join(agent.lines)
        assert agent.notices is not None
        assert "devices online" in agent.notices.status
        assert "broker not connected" in agent.notices.status
        assert (tmp_path / "state" / "outbox.sqlite3").exists(), "READY=1 after the outbox opened"
    finally:
        rc = agent.stop()
    assert rc == 0, "\n".join(agent.lines)
    assert agent.notices.stopping.is_set()
    assert agent.notices.status.startswith("stopping: SIGTERM")


def test_a_deep_workdir_gets_an_abstract_socket_the_notifier_reaches(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    notices = NotifySocket(deep)
    try:
        assert notices.address.startswith("@")
        sender = Notifier(env={"NOTIFY_SOCKET": notices.address})
        assert sender.ready("up")
        assert notices.ready.wait(5)
        assert sender.notify("WATCHDOG=1") and sender.notify("WATCHDOG=1")
        wait_for(lambda: notices.watchdog_pings == 2, message="two watchdog pings")
        assert notices.status == "up"
        sender.close()
    finally:
        notices.close()
