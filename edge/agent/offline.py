"""When the agent cannot run (exit 78): the checks before start and the last word.

``capleak run`` exits 78 on a :class:`edge.config.ConfigError` (a bad setting, or a
storage that cannot hold the outbox): systemd does not restart it and the bed is not
monitored, so the station is told why (:func:`say_offline`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from pathlib import Path

from edge.agent.logs import _version
from edge.clock import Clock, SystemClock
from edge.config import Config, ConfigError
from edge.messaging.mqtt import parse_broker_url
from edge.vocabulary import iso_time

log = logging.getLogger("capleak.runtime")


def say_offline(
    config: Config, reason: str, clock: Clock | None = None, timeout: float = 2.0
) -> bool:
    """Best effort before an exit 78: a retained ``offline`` status saying ``reason``.

    The agent cannot run (its storage, say), so the bed is not monitored: the station
    must learn it and why, not guess from a Will (which says only "connection lost"
    and needs a connection first). Waits at most about ``3 x timeout``. Returns
    whether the broker acknowledged it.
    """
    import uuid

    from edge.messaging.mqtt import new_client
    from edge.messaging.outbox import SEQ_FILE, SeqFile

    addr = parse_broker_url(config.broker.url)
    if not _tcp_reachable(addr.host, addr.port, timeout):
        log.info("broker %s not reachable: no offline status", addr)
        return False
    seq = 0
    with contextlib.suppress(Exception):  # the Will's rule: the last seq, no new one
        mark = SeqFile(Path(config.storage.state_dir) / SEQ_FILE).read()
        seq = mark.base - 1 if mark is not None else 0
    bed = config.bed
    body = {
        "msg_id": str(uuid.uuid4()),
        "seq": max(0, seq),
        "time": iso_time((clock or SystemClock()).now()),
        "state": "offline",
        "boot_id": str(uuid.uuid4()),
        "version": _version(),
        "reason": reason,
        "faults": {"storage": reason} if "storage." in reason else {},
    }
    topic = f"{config.topic_root}/status"
    client_id = config.broker.client_id or f"capleak-{bed.site}-{bed.unit}-{bed.bed}"
    connected = threading.Event()
    try:
        client, _ = new_client(config.broker, client_id, clean_start=True)
        client.connect_timeout = timeout
        client.on_connect = lambda *a: connected.set()
        client.connect(addr.host, addr.port, keepalive=30)
        client.loop_start()
        try:
            if not connected.wait(timeout):
                return False
            info = client.publish(topic, json.dumps(body, separators=(",", ":")), 1, True)
            info.wait_for_publish(timeout)
            ok = info.is_published()
        finally:
            client.disconnect()
            client.loop_stop()
    except Exception as e:  # best effort: the exit status and the log still say it
        log.info("could not publish the offline status: %s", e)
        return False
    if ok:
        log.info("published the retained offline status: %s", reason)
    return ok


def _tcp_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout):
            return True
    except OSError:
        return False


def state_dir_writable(path: str) -> None:
    """Raise :class:`ConfigError` when ``storage.state_dir`` cannot hold the outbox."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError("storage.state_dir", f"cannot create {path!r}: {e.strerror}") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise ConfigError("storage.state_dir", f"{path!r} is not writable by this user")
