"""The options of `vrprune run` for distributed runs. Kept apart from the runner, so that the
command line is built without importing sockets, numpy or the executor."""

from __future__ import annotations

from ..argtypes import whole_number

SOCKET_BUFFER = 4 << 20  # default --socket-buffer (bytes); Linux caps it at net.core.[rw]mem_max


def add_arguments(p) -> None:
    """The distributed options of `vrprune run`."""
    g = p.add_argument_group("distributed runs (docs/distributed.md)")
    g.add_argument("--mapping", metavar="HOST.map",
                   help="run only the actors this mapping places on its host; edges to other hosts become TX/RX "
                        "socket pairs")
    g.add_argument("--port-base", type=int, metavar="PORT",
                   help="TCP port of edge 0 (edge i uses PORT+i); default: the platform's base_port")
    g.add_argument("--listen-all", action="store_true",
                   help="RX sockets listen on all interfaces (default: only on this host's address in the "
                        "platform file)")
    g.add_argument("--socket-buffer", type=whole_number("a whole number of bytes, such as 4194304",
                                                         "0 = the kernel's autotuning"),
                   default=SOCKET_BUFFER, metavar="BYTES",
                   help="send and receive buffer of each TX/RX socket (default 4194304; 0: the kernel's autotuning; "
                        "Linux caps it at net.core.wmem_max/rmem_max)")
    g.add_argument("--pin", action="store_true",
                   help="run each actor on the CPU core its mapping's unit names (`cpu NAME core N`), as compiled "
                        "programs do with --pin (Linux; TX/RX and OpenCL actors are left to the scheduler)")
    g.add_argument("--connect-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="how long RX waits for its TX and TX retries its RX (default 30)")
    g.add_argument("--link", metavar="PRESET|BW,LAT",
                   help="emulate a link on TX: ethernet100, wifi16, wifi72, loopback, platform, or e.g. "
                        "11.2MB/s,1.3ms")
    g.add_argument("--psk-file", metavar="FILE", help="pre-shared key (HMAC-SHA256 challenge-response); "
                                                      "`vrprune keygen --psk FILE` writes one")
    g.add_argument("--tls-cert", metavar="PEM", help="this host's certificate (TLS with mutual authentication)")
    g.add_argument("--tls-key", metavar="PEM", help="this host's private key")
    g.add_argument("--tls-ca", metavar="PEM", help="the CA that signed every host's certificate")
    g.add_argument("--insecure-key-perms", action="store_true",
                   help="use a --psk-file or --tls-key that other users may read (refused by default; "
                        "chmod 600 it instead)")
