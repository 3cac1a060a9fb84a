"""Users, sessions and CSRF tokens for the ward board (standard library only).

The password file holds one user a line, ``NAME:scrypt$N$r$p$SALT$HASH`` (salt and
hash in base64), made by ``capleak board passwd``. Hashes use ``hashlib.scrypt``
with N=2**14, r=8, p=1: the parameters RFC 7914 section 2 suggests for interactive
logins; a check takes about 30-60 ms, so guessing is slow and a login stays quick.
The file must be readable by its owner only (as ``docs/security.md`` asks of the
broker credentials file): a file group or others can read is a configuration error.

A login makes a session: a random 256-bit token in an ``HttpOnly; SameSite=Strict``
cookie, and its own CSRF token, which every POST must echo in ``X-CSRF-Token``.
Sessions end after ``idle_s`` without a request (a 12 h shift) and are bounded in
number (the oldest goes first).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import stat
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from edge.config import ConfigError

SCRYPT_N = 2**14  # RFC 7914 section 2: interactive logins
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_DKLEN = 32
_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
#: A password hashed with the same parameters, checked for unknown users so a wrong
#: user name takes as long as a wrong password.
_DUMMY_SALT = b"capleak-board-no-such-user"


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$SALT$HASH`` for ``password``.

    >>> h = hash_password("pw", salt=b"0123456789abcdef")
    >>> h.split("$")[:4]
    ['scrypt', '16384', '8', '1']
    >>> verify_password("pw", h), verify_password("pW", h)
    (True, False)
    """
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_DKLEN
    )
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        kind, n, r, p, salt, digest = encoded.split("$")
        if kind != "scrypt":
            return False
        want = base64.b64decode(digest, validate=True)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt, validate=True),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(want),
            maxmem=256 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def read_users(path: str | Path) -> dict[str, str]:
    """The password file as ``{user: encoded hash}``; ConfigError on any problem."""
    p = Path(path)
    key = "--auth-file"
    try:
        st = p.stat()
        text = p.read_text()
    except OSError as e:
        raise ConfigError(key, f"cannot read {str(p)!r}: {e.strerror}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(key, f"{str(p)!r} is readable by others: chmod 600 {p}")
    users: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, encoded = line.partition(":")
        if not sep or not _USER.fullmatch(name) or not encoded.startswith("scrypt$"):
            raise ConfigError(
                key, f"{str(p)!r} line {n}: expected NAME:scrypt$..., made by capleak board passwd"
            )
        if len(encoded.split("$")) != 6:
            raise ConfigError(key, f"{str(p)!r} line {n}: a malformed scrypt hash")
        users[name] = encoded
    if not users:
        raise ConfigError(key, f"{str(p)!r} has no users: add one with capleak board passwd")
    return users


def set_user(path: str | Path, user: str, password: str) -> None:
    """Add or replace ``user`` in the password file (created mode 600)."""
    if not _USER.fullmatch(user):
        raise ConfigError("--user", f"must be letters, digits and _.@- (at most 64), got {user!r}")
    if not password:
        raise ConfigError("password", "is empty")
    p = Path(path)
    lines = []
    if p.exists():
        lines = [ln for ln in p.read_text().splitlines() if ln.partition(":")[0] != user]
    lines.append(f"{user}:{hash_password(password)}")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(p, 0o600)


@dataclass(slots=True)
class Session:
    user: str
    csrf: str
    last_seen: float


class Sessions:
    """Logged-in browsers: token -> :class:`Session`, bounded, idle sessions expire."""

    def __init__(
        self,
        users: dict[str, str],
        idle_s: float = 12 * 3600.0,
        max_sessions: int = 1000,
        clock=time.monotonic,
    ) -> None:
        self.users = users
        self.idle_s = idle_s
        self.max_sessions = max_sessions
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()
        self._dummy = hash_password("", salt=_DUMMY_SALT)

    def login(self, user: str, password: str) -> tuple[str, Session] | None:
        """A new session token when the password is right, else None."""
        encoded = self.users.get(user)
        ok = verify_password(password, encoded or self._dummy) and encoded is not None
        if not ok:
            return None
        token = secrets.token_urlsafe(32)
        session = Session(user, secrets.token_urlsafe(32), self._clock())
        with self._lock:
            self._sessions[token] = session
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return token, session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            s = self._sessions.get(token)
            if s is None:
                return None
            now = self._clock()
            if now - s.last_seen > self.idle_s:
                del self._sessions[token]
                return None
            s.last_seen = now
            self._sessions.move_to_end(token)
            return s

    def logout(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)
