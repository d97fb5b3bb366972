"""Distributed runs under faults and attacks (issue 20, items 1-6): an interrupted sender never
ends its stream with END, idle or slow connections cannot hold the RX, a slow firing does not
kill the link, refusals before authentication say nothing about the graph, a peer's text is
printed escaped."""

from __future__ import annotations

import io
import os
import random
import signal
import socket
import threading
import time

import pytest

from vrprune.cli import main_with
from vrprune.dist import _wire as w

from _procs import free_base, write_mapping
from test_dist_faults import Proc, seq_app

PLACE = {"Src": "endpoint", "Dst": "server"}


def _maps(d):
    return write_mapping(d, "server", PLACE), write_mapping(d, "endpoint", PLACE)


class _Side(threading.Thread):
    """One host's `vrprune run --mapping` in a thread of this process (no signal handlers there)."""

    def __init__(self, argv: list[str]) -> None:
        super().__init__(daemon=True)
        self.argv, self.out, self.err, self.rc = argv, io.StringIO(), io.StringIO(), None

    def run(self) -> None:
        self.rc = main_with(self.argv, self.out, self.err)


# ------------------------------------------------------------------ item 1: an interrupted sender


@pytest.mark.parametrize("shaped", [False, True], ids=["c-tx", "python-tx"])
def test_interrupted_endpoint_never_ends_the_stream(tmp_path, shaped):
    """SIGTERM on the endpoint at a random moment, 20 tries for each kind of TX (40 in all): the
    server never exits 0 (its source never ends, so only a false END could make it)."""
    app = seq_app(tmp_path, 3 * 10**8)
    sm, cm = _maps(tmp_path)
    rng = random.Random(20)
    got: list[int] = []
    old = signal.signal(signal.SIGTERM, lambda s, f: got.append(s))  # a stray signal must not kill pytest
    try:
        for i in range(20):
            base = str(free_base(2))
            srv = _Side(["run", app, "--mapping", sm, "--port-base", base, "--unchecked", "--connect-timeout", "5"])
            srv.start()
            err = io.StringIO()
            delay = rng.uniform(0.0, 0.3)

            def kill_later() -> None:
                t = time.monotonic() + 10
                while "fingerprint" not in err.getvalue() and time.monotonic() < t:  # its handlers are in place
                    time.sleep(0.002)
                time.sleep(delay)
                os.kill(os.getpid(), signal.SIGTERM)

            killer = threading.Thread(target=kill_later, daemon=True)
            killer.start()
            extra = ["--link", "2MB/s,0.1ms"] if shaped else []
            rc = main_with(["run", app, "--mapping", cm, "--port-base", base, "--unchecked", *extra],
                           io.StringIO(), err)
            killer.join()
            srv.join(30)
            assert not srv.is_alive(), f"try {i}: the server did not end\n{srv.err.getvalue()}"
            assert rc == 128 + signal.SIGTERM, f"try {i} (after {delay:.3f} s): endpoint exit {rc}\n{err.getvalue()}"
            assert srv.rc != 0, (f"try {i} (after {delay:.3f} s): the server called a cut-off stream complete\n"
                                 f"{srv.out.getvalue()}{srv.err.getvalue()}")
    finally:
        signal.signal(signal.SIGTERM, old)
