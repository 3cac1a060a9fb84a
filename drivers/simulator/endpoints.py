"""Where a simulated device's bytes go: a pseudo-terminal, a path or a TCP port.

:func:`open_endpoint` picks one: ``pty`` creates a pseudo-terminal (the device
end is its slave path, which the agent opens; the simulator holds the master),
optionally behind a stable symlink (``link``) that is re-pointed at every
replug, because a new pty gets a new path; a ``PATH`` (a serial device or one
end of a ``socat`` pair) is opened read/write; ``socket://HOST:PORT`` listens
as a TCP server (a serial device server) with one connection slot.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import termios
import tty
from typing import Protocol

log = logging.getLogger("drivers.simulator")  # the name its log lines always had


class Endpoint(Protocol):
    def open(self) -> str: ...
    def close(self) -> None: ...
    def fds(self) -> list[int]: ...
    def readable(self, fd: int) -> bytes: ...
    def write(self, data: bytes) -> int: ...


def _raw(fd: int) -> None:
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


class PtyEndpoint:
    """A fresh pseudo-terminal per ``open()``; ``link`` is re-pointed to it."""

    def __init__(self, link: str | None = None) -> None:
        self.link = link
        self.master: int | None = None
        self.slave: int | None = None
        self.path = ""

    def open(self) -> str:
        if self.link and os.path.lexists(self.link) and not os.path.islink(self.link):
            raise ValueError(f"--link {self.link} exists and is not a symlink: not replacing it")
        self.master, self.slave = os.openpty()
        _raw(self.slave)  # the simulator keeps the slave open: no EIO while nobody listens
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        if self.link:
            tmp = f"{self.link}.tmp{os.getpid()}"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.symlink(self.path, tmp)
            os.replace(tmp, self.link)
        return self.path

    def close(self) -> None:
        if self.link and os.path.islink(self.link) and os.readlink(self.link) == self.path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.link)  # only our own link: never someone else's file
        for fd in (self.master, self.slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master = self.slave = None

    def fds(self) -> list[int]:
        return [] if self.master is None else [self.master]

    def readable(self, fd: int) -> bytes:
        try:
            return os.read(fd, 4096)
        except (BlockingIOError, OSError):
            return b""

    def write(self, data: bytes) -> int:
        if self.master is None:
            return 0
        try:
            return os.write(self.master, data)
        except (BlockingIOError, OSError):
            return 0  # nobody reads: a real device does not wait either


class PathEndpoint(PtyEndpoint):
    """An existing serial device or pty path, opened read/write."""

    def __init__(self, path: str) -> None:
        super().__init__(None)
        self.target = path

    def open(self) -> str:
        fd = os.open(self.target, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        if os.isatty(fd):
            _raw(fd)
        self.master, self.path = fd, self.target
        return self.path


class SocketEndpoint:
    """A TCP server (like a serial device server) with one connection slot.

    A second client is accepted and closed at once while the first is connected.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.server: socket.socket | None = None
        self.client: socket.socket | None = None

    def open(self) -> str:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(1)
        s.setblocking(False)
        self.server = s
        self.port = s.getsockname()[1]
        return f"socket://{self.host}:{self.port}"

    def close(self) -> None:
        for s in (self.client, self.server):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()
        self.client = self.server = None

    def fds(self) -> list[int]:
        return [s.fileno() for s in (self.server, self.client) if s is not None]

    def readable(self, fd: int) -> bytes:
        if self.server is not None and fd == self.server.fileno():
            try:
                conn, addr = self.server.accept()
            except OSError:
                return b""
            if self.client is not None:
                conn.close()  # busy: like a device server with one connection slot
                log.info("refused a second client %s:%s", *addr[:2])
                return b""
            conn.setblocking(False)
            self.client = conn
            log.info("client %s:%s connected", *addr[:2])
            return b""
        if self.client is None:
            return b""
        try:
            data = self.client.recv(4096)
        except BlockingIOError:
            return b""
        except OSError:
            data = b""
        if not data:
            self.client.close()
            self.client = None
        return data

    def write(self, data: bytes) -> int:
        if self.client is None:
            return 0
        try:
            return self.client.send(data)
        except BlockingIOError:
            return 0
        except OSError:
            self.client.close()
            self.client = None
            return 0


def open_endpoint(port: str, link: str | None = None) -> Endpoint:
    """``pty``, ``socket://HOST:PORT`` or a path."""
    if port == "pty":
        return PtyEndpoint(link)
    if port.startswith("socket://"):
        host, _, num = port[len("socket://") :].rpartition(":")
        if not num.isdigit():
            raise ValueError(f"bad socket URL {port!r}: use socket://HOST:PORT")
        return SocketEndpoint(host or "127.0.0.1", int(num))
    if "://" in port:
        raise ValueError(f"the simulator serves pty, a PATH or socket://HOST:PORT, not {port!r}")
    return PathEndpoint(port)
