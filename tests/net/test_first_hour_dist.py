"""Peers whose security settings differ (issue 14 item 13): TLS on one side, a pre-shared key
(or nothing) on the other. Both sides must say that the settings differ and what each uses,
not "bad magic" or "connection reset"."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers.procs import Proc, free_base, maps, seq_app


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    for argv in (["--psk", str(d / "psk.key")], ["--tls", str(d / "tls"), "--hosts", "endpoint,server"]):
        subprocess.run([sys.executable, "-m", "vrprune", "keygen", *argv], check=True, capture_output=True)
    return d


def _opts(keys, kind: str, host: str) -> list[str]:
    if kind == "psk":
        return ["--psk-file", str(keys / "psk.key")]
    if kind == "tls":
        t = keys / "tls"
        return ["--tls-ca", str(t / "ca.pem"), "--tls-cert", str(t / f"{host}.pem"),
                "--tls-key", str(t / f"{host}.key")]
    return []


@pytest.mark.parametrize("server, client, rx_uses, tx_uses", [
    ("tls", "psk", "TLS (--tls-*)", "a pre-shared key without TLS (--psk-file)"),
    ("psk", "tls", "a pre-shared key without TLS (--psk-file)", "TLS (--tls-*)"),
    ("none", "tls", "neither TLS nor a pre-shared key", "TLS (--tls-*)"),
])
def test_tls_against_psk_says_the_security_settings_differ_on_both_sides(tmp_path, keys, server, client,
                                                                         rx_uses, tx_uses):
    app = seq_app(tmp_path, 30)
    sm, cm = maps(tmp_path)
    base = str(free_base())
    srv = Proc(tmp_path, "srv", app, sm, "--port-base", base, "--connect-timeout", "1.5",
               *_opts(keys, server, "server"))
    cli = Proc(tmp_path, "cli", app, cm, "--port-base", base, "--connect-timeout", "10",
               *_opts(keys, client, "endpoint"))
    rc_c, _ = cli.wait(30)
    rc_s, _ = srv.wait(30)
    assert rc_c == 1 and rc_s == 1
    said = f"the peers' security settings differ: the RX uses {rx_uses}, the TX uses {tx_uses}"
    for side in (srv, cli):
        assert said in side.err, side.err
        assert "bad magic" not in side.err and "reset" not in side.err and "WRONG_VERSION" not in side.err
