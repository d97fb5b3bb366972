"""The typed options of a distributed run (`vrprune run --mapping`'s; the command line is
vrprune.commands.run's). Kept apart from the runner, so that the command line is built
without importing sockets, numpy or the executor."""

from __future__ import annotations

from dataclasses import dataclass

SOCKET_BUFFER = 4 << 20  # default --socket-buffer (bytes); Linux caps it at net.core.[rw]mem_max


@dataclass(frozen=True)
class NetOptions:
    """How this host's TX/RX links connect: ``link`` is a preset, ``BW,LAT``, ``platform`` or
    None (no shaping); ``port_base`` None takes the platform's; the key files are paths."""

    link: str | None = None
    port_base: int | None = None
    listen_all: bool = False
    socket_buffer: int = SOCKET_BUFFER
    connect_timeout: float = 30.0
    psk_file: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    insecure_key_perms: bool = False
