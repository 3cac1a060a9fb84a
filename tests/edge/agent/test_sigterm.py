"""SIGTERM at any moment stops ``capleak run`` cleanly (exit 0), never deadlocks it.

The handler used to call ``Runtime.stop()``, which put a wake-up on the processing
queue from inside the signal handler: when the signal landed while the main thread
held the queue's mutex (inside ``Queue.get``/``put``), the handler blocked on that
same non-reentrant lock for good. The demo saw it once ("Agent exit status -9").
Real parts: ``capleak run`` subprocesses, a real mosquitto, a pty per agent with an
oximeter streaming fast, so the main thread is in the queue's code most of the time.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.hil.agent import Agent, MasimoStream, write_config
from tests.support import REPO, Mosquitto, Pty

RUNS = 30
PARALLEL = 5
STOP_WITHIN_S = 8.0  # generous for a loaded machine: a clean stop takes well under 1 s


def one_run(tmp_path: Path, broker_url: str, n: int, rng: random.Random) -> str | None:
    """Start an agent, SIGTERM it after a random delay; the problem, or None."""
    pty = Pty()
    stream = MasimoStream(pty, period=0.001)
    spo2 = {"id": "spo2", "driver": "masimo-ascii", "port": pty.path}
    cfg = write_config(
        tmp_path / f"c{n}.toml",
        broker_url=broker_url,
        state_dir=tmp_path / f"st{n}",
        devices=[spo2],
        bed=f"b{n}",
    )
    agent = Agent(cfg).start()
    try:
        agent.wait_log("ready:")
        time.sleep(rng.uniform(0.0, 0.6))
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGTERM)
        try:
            rc = agent.proc.wait(STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            return f"run {n}: no exit {STOP_WITHIN_S:g} s after SIGTERM (deadlock)"
        if rc != 0:
            return f"run {n}: exit status {rc}\n" + "\n".join(agent.lines[-10:])
        return None
    finally:
        stream.stop()
        agent.close()
        pty.close()


def test_sigterm_at_random_moments_always_exits_0(tmp_path: Path, mosquitto: Mosquitto) -> None:
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    delays = [random.Random(rng.random()) for _ in range(RUNS)]
    with ThreadPoolExecutor(PARALLEL) as pool:
        problems = [
            p
            for p in pool.map(lambda n: one_run(tmp_path, mosquitto.url, n, delays[n]), range(RUNS))
            if p
        ]
    assert not problems, f"seed {seed}: {len(problems)}/{RUNS} runs failed:\n" + "\n".join(problems)


def test_a_signal_while_the_main_thread_holds_the_queue_lock_does_not_deadlock(
    tmp_path: Path,
) -> None:
    """The exact moment of the deadlock, made certain: the signal arrives inside the lock.

    A real process with the real handler: the main thread takes the processing queue's
    mutex (as ``Queue.get`` does) and the process signals itself; Python runs the
    handler at the next bytecode, still inside the lock.
    """
    script = textwrap.dedent(
        f"""
        import os, signal
        from edge.agent.runtime import Runtime
        from edge.config import config_from_dict

        config = config_from_dict(
            {{"bed": {{"site": "s", "unit": "u", "bed": "b"}},
              "storage": {{"state_dir": {str(tmp_path)!r}}}}}
        )
        runtime = Runtime(config)
        runtime.install_signal_handlers()
        with runtime._queue.mutex:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs in here
                pass
        print("stop requested:", runtime.stop_requested)
        """
    )
    try:
        r = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=120,  # a deadlock is for ever; a loaded machine imports slowly
            cwd=str(REPO),
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("the signal handler deadlocked on the queue's lock") from None
    assert r.returncode == 0, r.stderr
    assert "stop requested: True" in r.stdout
