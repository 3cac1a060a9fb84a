"""The ward board: a web page for the central station (``capleak board``).

A tile per bed coloured by its highest alert, a bed view with 72 h trend plots, and
acknowledge/silence buttons that send the bed's ``cmd/`` commands. Standard library
only (``http.server``, server-sent events) on top of the reference station model.

- :mod:`.ward`: the state (station model + bounded history) and its change events;
- :mod:`.history`: bounded, bucketed per-signal history;
- :mod:`.link`: the MQTT connection (subscription, commands and replies);
- :mod:`.auth`: scrypt password file, sessions, CSRF tokens;
- :mod:`.server`: the HTTP server; ``static/``: the page.

``docs/board.md`` has the API, the security model and the settings.
"""

from __future__ import annotations

from edge.station.board.auth import Sessions, read_users
from edge.station.board.link import BoardLink
from edge.station.board.server import Board, ServerSettings, is_loopback
from edge.station.board.ward import Ward, WardSettings

__all__ = [
    "Board",
    "BoardLink",
    "ServerSettings",
    "Sessions",
    "Ward",
    "WardSettings",
    "is_loopback",
    "open_board",
    "read_users",
]


def open_board(
    broker,
    listen: tuple[str, int] = ("127.0.0.1", 8080),
    *,
    filter: str | None = None,
    auth_file: str | None = None,
    ward_settings: WardSettings | None = None,
    server_settings: ServerSettings | None = None,
    connect_timeout: float = 10.0,
) -> Board:
    """Connect to ``broker`` (an ``edge.config.BrokerConfig``) and start serving.

    Raises ``edge.config.ConfigError`` for a non-loopback ``listen`` without
    ``auth_file`` (and for a bad password file). The caller stops it with
    ``board.stop()`` and ``board.link.stop()``.
    """
    from edge.config import ConfigError

    host, port = listen
    if not is_loopback(host) and not auth_file:
        raise ConfigError(
            "--listen",
            f"{host!r} is not a loopback address: the board would serve the ward to the "
            "network without logins. Give --auth-file (see capleak board passwd) and put "
            "a TLS reverse proxy in front (docs/board.md), or listen on 127.0.0.1",
        )
    sessions = Sessions(read_users(auth_file)) if auth_file else None
    ward = Ward(filter, ward_settings)
    link = BoardLink(broker, ward)
    try:
        board = Board((host, port), ward, link, sessions, server_settings)
    except OSError as e:
        raise ConfigError("--listen", f"cannot listen on {host}:{port}: {e.strerror}") from None
    link.start(connect_timeout)
    return board.start()
