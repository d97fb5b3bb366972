"""Key files (issue 20, item 6): `vrprune keygen` creates them exclusively with mode 0600, never
through a symbolic link, and overwrites only with --force; `vrprune run` refuses a pre-shared key
or a TLS key that other users may read, unless --insecure-key-perms."""

from __future__ import annotations

import io
import os
import stat

import pytest

from vrprune.cli import main_with
from vrprune.net import _auth

from helpers.procs import seq_app, write_mapping


def keygen(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    return main_with(["keygen", *args], out, err), out.getvalue() + err.getvalue()


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_tls_keys_are_private_even_under_a_loose_umask(tmp_path):
    old = os.umask(0)
    try:
        rc, text = keygen("--tls", str(tmp_path / "t"), "--hosts", "a,b")
    finally:
        os.umask(old)
    assert rc == 0, text
    for name in ("ca.key", "a.key", "b.key"):
        assert mode(tmp_path / "t" / name) == 0o600
    assert mode(tmp_path / "t" / "ca.pem") == 0o644


def test_tls_refuses_to_overwrite_and_keeps_the_old_files(tmp_path):
    d = tmp_path / "t"
    d.mkdir()
    (d / "a.key").write_text("old key")
    os.chmod(d / "a.key", 0o644)
    rc, text = keygen("--tls", str(d), "--hosts", "a")
    assert rc == 2 and "a.key exists" in text and "--force" in text, text
    assert (d / "a.key").read_text() == "old key"
    assert not (d / "ca.key").exists()  # nothing written before the refusal
    rc, text = keygen("--tls", str(d), "--hosts", "a", "--force")
    assert rc == 0, text
    assert (d / "a.key").read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert mode(d / "a.key") == 0o600


@pytest.mark.parametrize("what", ["--tls", "--psk"])
def test_a_symbolic_link_is_never_written_through(tmp_path, what):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    d = tmp_path / "t"
    d.mkdir()
    link = d / ("server.key" if what == "--tls" else "psk")
    link.symlink_to(outside)
    target = str(d) if what == "--tls" else str(link)
    rc, text = keygen(what, target)
    assert rc == 2 and "exists" in text, text
    assert outside.read_text() == "precious"
    rc, text = keygen(what, target, "--force")
    assert rc == 0, text
    assert outside.read_text() == "precious"  # the link was replaced, not followed
    assert not link.is_symlink() and mode(link) == 0o600


@pytest.mark.parametrize("kind", ["psk", "tls"])
def test_run_refuses_a_key_that_others_may_read(tmp_path, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    app = seq_app(tmp_path, 30)
    cm = write_mapping(tmp_path, "endpoint", {"Src": "endpoint", "Dst": "server"})
    if kind == "psk":
        assert keygen("--psk", str(tmp_path / "k"))[0] == 0
        key = tmp_path / "k"
        opts = ["--psk-file", str(key)]
    else:
        assert keygen("--tls", str(tmp_path / "t"))[0] == 0
        key = tmp_path / "t" / "endpoint.key"
        opts = ["--tls-cert", str(tmp_path / "t/endpoint.pem"), "--tls-key", str(key),
                "--tls-ca", str(tmp_path / "t/ca.pem")]
    os.chmod(key, 0o644)
    base = ["run", app, "--mapping", str(cm), "--unchecked", "--connect-timeout", "0.2", *opts]
    err = io.StringIO()
    assert main_with(base, io.StringIO(), err) == 2
    assert "open to other users (mode 0644)" in err.getvalue() and "chmod 600" in err.getvalue()
    # --insecure-key-perms: used with a warning (the run then fails to connect: nobody listens)
    err = io.StringIO()
    assert main_with(base + ["--insecure-key-perms"], io.StringIO(), err) == 1, err.getvalue()
    assert "warning:" in err.getvalue() and "open to other users" in err.getvalue()


def test_read_psk_refuses_group_readable(tmp_path):
    p = tmp_path / "k"
    p.write_text("00" * 32)
    os.chmod(p, 0o640)
    with pytest.raises(_auth.DistError, match="open to other users"):
        _auth.read_psk(str(p))
    os.chmod(p, 0o600)
    assert _auth.read_psk(str(p)) == bytes(32)


def test_a_compiled_program_refuses_a_key_that_others_may_read(tmp_path):
    import subprocess

    from helpers.procs import compile_host, pp, vehicle_app, write_mappings

    app = vehicle_app(tmp_path, actors="c")
    maps = write_mappings(tmp_path, pp(3))
    exe = compile_host(tmp_path, app, maps["endpoint"], "endpoint")
    assert keygen("--psk", str(tmp_path / "k"))[0] == 0
    os.chmod(tmp_path / "k", 0o644)
    cmd = [exe, "--psk-file", str(tmp_path / "k"), "--connect-timeout", "0.3", "--port-base", "9"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode != 0 and "is open to other users (mode 0644)" in r.stderr and "chmod 600" in r.stderr
    assert "cannot connect" not in r.stderr  # refused before any connection
    r = subprocess.run(cmd + ["--insecure-key-perms"], capture_output=True, text=True, timeout=60, check=False)
    assert "warning:" in r.stderr and "cannot connect" in r.stderr, r.stderr
