"""The ward board's HTTP server: the page, a JSON API and server-sent events (stdlib only).

Routes (``docs/board.md`` has the contract):

========================================  =====================================================
``GET /``                                 the page (``static/``: our own HTML, CSS and JS)
``GET /login``, ``POST /login``           the login form (only with ``--auth-file``)
``POST /logout``                          ends the session
``GET /api/session``                      ``{"user", "csrf", "auth"}``: the page's CSRF token
``GET /api/beds``                         one object per bed (the tiles)
``GET /api/beds/{site}/{unit}/{bed}``     that bed's bounded history, trends and alerts
``GET /api/events``                       ``text/event-stream``: one event per change
``POST /api/beds/{s}/{u}/{b}/ack``        ``{"alert_id": ...}``: acknowledge, returns the reply
``POST /api/beds/{s}/{u}/{b}/silence``    ``{"alert_id"?, "duration_s"?}``: pause the audio
``GET /api/stats``                        the board's own counters
========================================  =====================================================

Every POST needs the CSRF token in ``X-CSRF-Token`` and a JSON body (a cross-site
form cannot send either). Without ``--auth-file`` the board listens on loopback only
and accepts only loopback ``Host`` names (no DNS rebinding); with it, every request
but the login needs the session cookie.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import queue
import re
import secrets
import threading
import urllib.parse
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from edge.station.board.auth import Session, Sessions
from edge.station.board.link import BoardLink
from edge.station.board.ward import Ward

log = logging.getLogger(__name__)

_ID = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_BED_PATH = re.compile(rf"/api/beds/({_ID}/{_ID}/{_ID})(?:/(ack|silence))?")
COOKIE = "capleak_board"
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/login": ("login.html", "text/html; charset=utf-8"),
    "/static/board.js": ("board.js", "text/javascript; charset=utf-8"),
    "/static/board.css": ("board.css", "text/css; charset=utf-8"),
}
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The HTTP side's numbers; defaults and reasons in ``docs/board.md``."""

    reply_wait_s: float = 5.0  # a POST waits this long for the bed's reply, then 202
    max_body: int = 4096  # bytes: a command is under 1 KiB (the agent's commands.max_bytes)
    keepalive_s: float = 15.0  # SSE comment line: keeps proxies from closing an idle stream
    silence_default_s: float = 120.0  # the audio pause the silence button asks for
    silence_max_s: float = 900.0  # the agent's limit (cmd-silence.json)
    secure_cookie: bool = False  # set behind a TLS reverse proxy (--secure-cookie)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Board(ThreadingHTTPServer):
    """The HTTP server; ``serve_forever`` in a thread of its own (``start``)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        ward: Ward,
        link: BoardLink | None,
        sessions: Sessions | None = None,
        settings: ServerSettings | None = None,
    ) -> None:
        self.ward = ward
        self.link = link
        self.sessions = sessions
        self.settings = settings or ServerSettings()
        self.stopping = threading.Event()
        self.open_token = secrets.token_urlsafe(32)  # the CSRF token without --auth-file
        self.files = {
            path: (resources.files("edge.station.board").joinpath("static", name).read_bytes(), t)
            for path, (name, t) in _STATIC.items()
        }
        self._thread: threading.Thread | None = None
        super().__init__(address, BoardHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{name}]" if ":" in name else name
        return f"http://{shown}:{port}/"

    def start(self) -> Board:
        self._thread = threading.Thread(target=self.serve_forever, name="board-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


class BoardHandler(BaseHTTPRequestHandler):
    server: Board
    server_version = "capleak-board"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # -- plumbing -----------------------------------------------------------------------

    def _send(
        self,
        status: int,
        body: bytes,
        ctype: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in {**_SECURITY_HEADERS, **(headers or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj, separators=(",", ":")).encode()
        self._send(status, body, "application/json", headers)

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message, "status": status})

    def _token(self) -> str | None:
        raw = self.headers.get("Cookie")
        if not raw:
            return None
        try:
            c = SimpleCookie(raw)
        except CookieError:
            return None
        return c[COOKIE].value if COOKIE in c else None

    def _session(self) -> Session | None:
        """The logged-in session (None: not logged in); without auth, an open one."""
        if self.server.sessions is None:
            return Session("board", self.server.open_token, 0.0)
        return self.server.sessions.get(self._token())

    def _host_ok(self) -> bool:
        """Without auth, only loopback Host names (a rebound DNS name is refused)."""
        if self.server.sessions is not None:
            return True
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        return is_loopback(host)

    def _path(self) -> str:
        return urllib.parse.urlsplit(self.path).path

    # -- GET ----------------------------------------------------------------------------

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        try:
            self._get()
        except ApiError as e:
            self._error(e.status, e.message)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _get(self) -> None:
        path = self._path()
        if not self._host_ok():
            raise ApiError(403, "this Host is not served (loopback only without --auth-file)")
        if path == "/favicon.ico":
            self._send(204, b"", "image/x-icon")
            return
        if path == "/login":
            if self.server.sessions is None:
                self._send(303, b"", "text/plain", {"Location": "/"})
                return
            body, ctype = self.server.files[path]
            self._send(200, body, ctype)
            return
        session = self._session()
        if path in self.server.files:
            if session is None and not path.startswith("/static/"):
                self._send(303, b"", "text/plain", {"Location": "/login"})
                return
            body, ctype = self.server.files[path]
            self._send(200, body, ctype)
            return
        if not path.startswith("/api/"):
            raise ApiError(404, f"no such page: {path}")
        if session is None:
            raise ApiError(401, "log in first (POST /login)")
        ward = self.server.ward
        if path == "/api/session":
            self._json(
                200,
                {"user": session.user, "csrf": session.csrf, "auth": bool(self.server.sessions)},
            )
        elif path == "/api/beds":
            self._json(200, ward.summaries())
        elif path == "/api/events":
            self._events()
        elif path == "/api/stats":
            link = self.server.link
            self._json(
                200,
                {
                    **ward.counters,
                    "beds": len(ward.beds()),
                    "streams": ward.streams(),
                    "connected": bool(link and link.connected.is_set()),
                },
            )
        elif m := _BED_PATH.fullmatch(path):
            if m.group(2):
                raise ApiError(405, f"{m.group(2)} takes POST")
            detail = ward.detail(m.group(1))
            if detail is None:
                raise ApiError(404, f"unknown bed {m.group(1)!r}")
            self._json(200, detail)
        else:
            raise ApiError(404, f"no such resource: {path}")

    def _events(self) -> None:
        ward = self.server.ward
        sub = ward.subscribe()
        if sub is None:
            raise ApiError(503, "too many open event streams")
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Accel-Buffering", "no")  # nginx: do not buffer the stream
            self.end_headers()
            self.wfile.write(b"retry: 2000\n\n")
            self.wfile.flush()
            while not self.server.stopping.is_set():
                if sub.overflowed:
                    self.wfile.write(b"event: overflow\ndata: {}\n\n")
                    return  # the page reconnects and reloads /api/beds
                try:
                    n, kind, data = sub.events.get(timeout=self.server.settings.keepalive_s)
                except queue.Empty:
                    self.wfile.write(b": keepalive\n\n")
                    self.wfile.flush()
                    continue
                chunk = [f"id: {n}\nevent: {kind}\ndata: {data}\n\n"]
                while len(chunk) < 500:  # write what is queued in one go
                    try:
                        n, kind, data = sub.events.get_nowait()
                    except queue.Empty:
                        break
                    chunk.append(f"id: {n}\nevent: {kind}\ndata: {data}\n\n")
                self.wfile.write("".join(chunk).encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        finally:
            ward.unsubscribe(sub)

    # -- POST ---------------------------------------------------------------------------

    def do_POST(self) -> None:
        try:
            self._post()
        except ApiError as e:
            self._error(e.status, e.message)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _body(self) -> bytes:
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise ApiError(400, "bad Content-Length") from None
        if n < 0:
            raise ApiError(400, "bad Content-Length")
        if n > self.server.settings.max_body:
            raise ApiError(413, f"body over {self.server.settings.max_body} bytes")
        return self.rfile.read(n)

    def _same_origin(self) -> bool:
        origin = self.headers.get("Origin")
        if origin is None:  # not a browser's cross-site request (curl, the tests)
            return True
        host = self.headers.get("Host") or ""
        return urllib.parse.urlsplit(origin).netloc == host

    def _post(self) -> None:
        path = self._path()
        if not self._host_ok():
            raise ApiError(403, "this Host is not served (loopback only without --auth-file)")
        if not self._same_origin():
            raise ApiError(403, "cross-origin request refused")
        if path == "/login":
            self._login()
            return
        session = self._session()
        if session is None:
            raise ApiError(401, "log in first (POST /login)")
        token = self.headers.get("X-CSRF-Token") or ""
        if not secrets.compare_digest(token.encode(), session.csrf.encode()):
            raise ApiError(403, "missing or wrong X-CSRF-Token (GET /api/session gives it)")
        if path == "/logout":
            if self.server.sessions is not None:
                self.server.sessions.logout(self._token())
            self._json(200, {"ok": True}, {"Set-Cookie": self._cookie("", 0)})
            return
        m = _BED_PATH.fullmatch(path)
        if not m or not m.group(2):
            raise ApiError(404, f"no such resource: {path}")
        self._command(m.group(1), m.group(2), session)

    def _login(self) -> None:
        sessions = self.server.sessions
        if sessions is None:
            raise ApiError(404, "no login: the board runs without --auth-file")
        raw = self._body()
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype == "application/json":
            try:
                form = json.loads(raw)
            except ValueError:
                raise ApiError(400, "bad JSON") from None
            if not isinstance(form, dict):
                raise ApiError(400, "expected a JSON object")
        else:
            form = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode(errors="replace")).items()}
        user, password = form.get("username"), form.get("password")
        if not isinstance(user, str) or not isinstance(password, str):
            raise ApiError(400, "username and password are required")
        got = sessions.login(user, password)
        if got is None:
            log.warning("failed board login for user %r from %s", user, self.client_address[0])
            raise ApiError(401, "wrong user name or password")
        token, _ = got
        log.info("board login: %s", user)
        headers = {"Set-Cookie": self._cookie(token, int(sessions.idle_s))}
        if ctype == "application/json":
            self._json(200, {"ok": True, "user": user}, headers)
        else:
            self._send(303, b"", "text/plain", {**headers, "Location": "/"})

    def _cookie(self, value: str, max_age: int) -> str:
        secure = "; Secure" if self.server.settings.secure_cookie else ""
        return f"{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"

    def _command(self, bed: str, name: str, session: Session) -> None:
        ward, link, settings = self.server.ward, self.server.link, self.server.settings
        if bed not in ward.beds():
            raise ApiError(404, f"unknown bed {bed!r}")
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            raise ApiError(415, "the body must be application/json")
        try:
            body = json.loads(self._body())
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "bad JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "expected a JSON object")
        unknown = set(body) - {"alert_id", "duration_s"}
        if unknown:
            raise ApiError(400, f"unknown field(s): {', '.join(sorted(unknown))}")
        args: dict[str, Any] = {}
        alert_id = body.get("alert_id")
        if name == "ack" or alert_id is not None:
            if not isinstance(alert_id, str) or not alert_id:
                raise ApiError(400, "alert_id (a string) is required")
            alert = next((a for a in ward.alerts(bed) if a.get("alert_id") == alert_id), None)
            if alert is None:
                raise ApiError(404, f"no active or latched alert {alert_id!r} at {bed}")
            args["alert"] = alert["code"]
            if alert.get("source"):
                args["source"] = alert["source"]
        if name == "silence":
            d = body.get("duration_s", settings.silence_default_s)
            if (
                not isinstance(d, int | float)
                or isinstance(d, bool)
                or not 0 < d <= settings.silence_max_s
            ):
                raise ApiError(
                    400, f"duration_s must be a number in (0, {settings.silence_max_s:g}]"
                )
            args["duration_s"] = d
        elif "duration_s" in body:
            raise ApiError(400, "duration_s is for silence only")
        if link is None:
            raise ApiError(503, "the board has no broker connection")
        try:
            request_id = link.send(bed, name, args, by=session.user)
        except ConnectionError as e:
            raise ApiError(503, str(e)) from None
        reply = link.wait_reply(request_id, settings.reply_wait_s)
        if reply is None:
            self._json(202, {"request_id": request_id, "status": "sent; no reply yet"})
        else:
            self._json(200, {"request_id": request_id, "reply": reply})
