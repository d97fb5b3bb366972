"""Every command in README.md and docs/*.md runs as written, from a fresh clone, with the exit
code the docs give it.

The walker reads the fenced blocks (sh, console, plain): in a block with `$ ` prompts, the
prompted lines; elsewhere, every line that starts a command. It takes `vrprune ...`,
`python -m vrprune ...` and the compiled programs the docs build (`build/...`). A new page or a
new command is picked up and run by itself. The commands of one page run in order, in one copy
of the repository's files (what `git clone` gives, plus files not yet committed that git does
not ignore), so a page can build something and then run it.

Not run here, each for the reason given in COVERED_ELSEWHERE: server/client pairs (a second
process, fixed ports), commands that need root or the network, and the slowest ones, each of
which has its own test. Synopsis lines (`[--option]`, `A|B`, `APP.vpr`) are not commands.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["README.md"] + sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))

# exit codes the docs give (anything not listed must exit 0)
EXIT = {
    "vrprune check examples/tour/feedback.vpr": 1,  # README's tour: the deadlock, then its fix
    "vrprune fuzz specs/exec/boom.vpr --iterations 10": 1,  # docs/fuzzing.md: a finding
    **{f"vrprune check specs/bad/{n}.vpr": 1 for n in (
        "r1_one_da", "r2_variable_port_on_spa", "r3_dpa_without_control", "r4_edge_enters_at_dpa",
        "r5_asymmetric_rates", "r6_spa_fires_twice", "r7_dpa_off_path", "r8_exit_without_static_output")},
    # docs/early-exit.md: an exit whose capacity is too small, refuted, and its counterexample replayed
    "vrprune check specs/exec/exit_tiles.vpr --counterexample cx.json": 1,
    "vrprune run specs/exec/exit_tiles.vpr --replay cx.json --stub-missing --iterations 4": 1,
}

_SERVER_PAIR = "a server that waits for its client (a second process on the platform's fixed ports): "
COVERED_ELSEWHERE = {
    # installs and the whole suite: what CI does
    "pip install '.[all]' && vrprune check examples/vehicle/vehicle_np.vpr && vrprune run examples/vehicle/vehicle_np.vpr":  # noqa: E501
        "installing is .ci/run's job; its two vrprune commands are README commands run here as well",
    "pip install -e '.[test]' && HYPOTHESIS_PROFILE=ci python -m pytest": ".ci/run runs exactly this",
    "HYPOTHESIS_PROFILE=thorough python -m pytest tests/verify/test_differential.py "
    "tests/exec/test_properties_exec.py tests/verify/test_rules.py tests/net/test_fuzz_rx.py -x":
        "hours of property tests (the ci profile runs them in CI)",
    # distributed pairs
    "vrprune run examples/vehicle/vehicle_np.vpr --mapping specs/vehicle_server.map":
        _SERVER_PAIR + "tests/net/test_dist_e2e.py runs the vehicle split with these mappings",
    "vrprune run examples/vehicle/vehicle_np.vpr --mapping specs/vehicle_client.map":
        "the client of the pair above: tests/net/test_dist_e2e.py",
    "vrprune run examples/vehicle/vehicle_c.vpr --mapping specs/vehicle_server.map &":
        _SERVER_PAIR + "tests/compile/test_compile_dist.py runs a compiled client against it",
    "vrprune run examples/vehicle/vehicle_c.vpr --mapping specs/vehicle_server.map":
        _SERVER_PAIR + "tests/compile/test_compile_dist.py",
    "build/client/vehicle_endpoint": "the compiled client of that pair: tests/compile/test_compile_dist.py",
    "vrprune run examples/vehicle/vehicle_np.vpr --mapping specs/vehicle_server.map --psk-file lab.psk":
        _SERVER_PAIR + "tests/net/test_dist_e2e.py and tests/compile/test_compile_dist.py (pre-shared keys)",
    "vrprune run examples/vehicle/vehicle_np.vpr --mapping specs/vehicle_server.map --tls-ca keys/ca.pem "
    "--tls-cert keys/server.pem --tls-key keys/server.key":
        _SERVER_PAIR + "tests/compile/test_compile_dist.py::test_tls_across_implementations",
    "vrprune run examples/vehicle/vehicle_c.vpr --mapping specs/vehicle_server.map --tls-cert keys/server.pem "
    "--tls-key keys/server.key --tls-ca keys/ca.pem":
        _SERVER_PAIR + "tests/compile/test_compile_dist.py::test_tls_across_implementations",
    "build/client/vehicle_endpoint --tls-cert keys/endpoint.pem --tls-key keys/endpoint.key --tls-ca keys/ca.pem":
        "the compiled TLS client of that pair: tests/compile/test_compile_dist.py",
    # docs/early-exit.md's MobileNetV2 with an exit: files that `python examples/models/make_exit.py` writes
    "vrprune check examples/models/mobilenetv2_exit/mobilenetv2.vpr":
        "needs make_exit.py's MobileNetV2 (224x224, seconds): tests/onnximport/test_import_exits.py builds, proves "
        "and runs it at 32x32",
    "vrprune run examples/models/mobilenetv2_exit/mobilenetv2.vpr --param "
    "Input.path=examples/models/mobilenetv2_exit/frames.npy --param Output.path=y.npy":
        "tests/onnximport/test_import_exits.py (see the check above)",
    "vrprune run examples/models/mobilenetv2_exit/mobilenetv2.vpr --mapping "
    "examples/models/mobilenetv2_exit/server.map --param Input.path=examples/models/mobilenetv2_exit/frames.npy &":
        _SERVER_PAIR + "tests/onnximport/test_import_exits.py splits an exit graph the same way",
    "vrprune run examples/models/mobilenetv2_exit/mobilenetv2.vpr --mapping examples/models/mobilenetv2_exit/"
    "endpoint.map --param Input.path=examples/models/mobilenetv2_exit/frames.npy --param Output.path=y.npy":
        "the client of the pair above: tests/onnximport/test_import_exits.py",
    # slow: each has its own test
    "vrprune run examples/ssd/ssd.vpr --processes none": "~10 s each: tests/exec/test_exec_procs.py runs graphs with "
                                                         "--processes none, all and actor names",
    "vrprune run examples/ssd/ssd.vpr --processes all": "tests/exec/test_exec_procs.py (see --processes none)",
    "vrprune run examples/ssd/ssd.vpr --processes DWCL1,PWCL1+DWCL2,NMS":
        "tests/exec/test_exec_procs.py (see --processes none)",
    "vrprune explore examples/vehicle/vehicle_c.vpr --platform specs/platform.vpr --link ethernet100,wifi16 "
    "--slowdown 2 --frames 8 --private-input --out sweep":
        "16 s or more: tests/explore/test_first_hour_explore.py runs this sweep (smaller) with the relative --out, "
        "from another folder",
    "vrprune explore examples/vehicle/vehicle_c.vpr --platform specs/platform.vpr --link ethernet100,wifi16 "
    "--slowdown 5 --frames 8 --private-input --out sweep": "the sweep above with --slowdown 5",
    "time vrprune explore specs/ssd.vpr --platform specs/platform.vpr --stub-missing --link ethernet100,wifi16 "
    "--frames 2 --out ssd-sweep": "minutes (53 actors, 32 points): tests/explore/test_explore_dist.py sweeps "
                                  "graphs over two processes; this figure is measured, not tested",
}
# Pages of other work in progress whose commands do not run as written yet: not run, and the
# page's test ends as xfail naming them, until the page is fixed and its entry removed here.
PENDING: dict[str, str] = {}

# docs/distributed.md's network-namespace walkthrough needs root: tests/net/test_dist_netns.py
_NEEDS_ROOT = re.compile(r"^(ip|tc) ")

_COMMAND = re.compile(r"^(?:[A-Z_]+=\S+\s+)*(?:time\s+)?"
                      r"(?:vrprune|python3? -m (?:vrprune|pytest)|pip3?|build/\S*[^/\s])(?:\s|$)")


def _is_synopsis(cmd: str) -> bool:
    """`vrprune compile APP.vpr [--mapping HOST.map]`: a synopsis, not a command."""
    words = shlex.split(cmd, comments=True, posix=False)  # quoted words keep their quotes: '.[all]' is no option
    return any(w.startswith("[") or w.endswith("]") or ("|" in w and not w.startswith("-")) for w in words) or \
        any(re.fullmatch(r"[A-Z][A-Z0-9_]*(\.\w+)?", w) for w in words)


def commands(page: str) -> list[str]:
    """The commands of one page, in order: continuation lines joined, comments dropped."""
    text = (ROOT / page).read_text(encoding="utf-8")
    found = []
    for m in re.finditer(r"^```(\w*)[^\n]*\n(.*?)^```", text, re.M | re.S):
        if m.group(1) not in ("", "sh", "console", "bash", "shell", "text"):
            continue
        lines = m.group(2).splitlines()
        prompted = any(ln.startswith("$ ") for ln in lines)
        i = 0
        while i < len(lines):
            ln, i = lines[i], i + 1
            if prompted and not ln.startswith("$ "):
                continue
            cmd = ln[2:] if prompted else ln.strip()
            while cmd.rstrip().endswith("\\") and i < len(lines):
                cmd, i = cmd.rstrip()[:-1].rstrip() + " " + lines[i].strip(), i + 1
            cmd = re.sub(r"\s+#.*$", "", cmd).strip()  # a trailing comment
            if _COMMAND.match(cmd) or _NEEDS_ROOT.match(cmd) or " vrprune " in f" {cmd} ":
                found.append(" ".join(cmd.split()))
    return found


# the throughput search of bufsize --pareto / --max-throughput takes seconds to minutes
_SLOW = {re.compile(r"^vrprune bufsize .*--(pareto|max-throughput)"):
         "seconds of throughput search: tests/verify/test_bufsize.py and tests/verify/test_throughput.py run "
         "--pareto and --max-throughput on the SDF3 graphs"}


def _why_not_run(page: str, cmd: str) -> str | None:
    for pattern, why in _SLOW.items():
        if pattern.search(cmd):
            return why
    for key in (f"{page}: {cmd}", cmd):
        if key in COVERED_ELSEWHERE:
            return COVERED_ELSEWHERE[key]
    if re.match(r"pip3? install ", cmd):
        return "installing is .ci/run's job (it installs '.[test]', every extra included)"
    if _NEEDS_ROOT.match(cmd) or cmd.startswith("ip netns exec"):
        return "needs root and network namespaces: tests/net/test_dist_netns.py"
    if _is_synopsis(cmd):
        return "a synopsis"
    return None


def fresh_clone(dest: Path) -> Path:
    """The repository's files as a clone has them (plus uncommitted files git does not ignore)."""
    try:
        names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                               capture_output=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def _env(tmp: Path) -> dict[str, str]:
    """PATH with a `vrprune` that is this Python's (as `pip install` would put on PATH)."""
    bindir = tmp / "bin"
    bindir.mkdir(exist_ok=True)
    shim = bindir / "vrprune"
    shim.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m vrprune \"$@\"\n")
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("HYPOTHESIS_PROFILE", None)
    return env


def test_every_listed_command_is_still_documented():
    """No stale entries: each command listed as covered elsewhere or with an exit code is in a page."""
    documented = {c for page in PAGES for c in commands(page)} | {f"{p}: {c}" for p in PAGES for c in commands(p)}
    stale = [c for c in [*COVERED_ELSEWHERE, *EXIT, *PENDING] if c not in documented]
    assert not stale, stale


@pytest.mark.parametrize("page", PAGES)
def test_page_commands_run_as_written(page, tmp_path):
    cmds = commands(page)
    pending = [c for c in cmds if f"{page}: {c}" in PENDING]
    to_run = [c for c in cmds if _why_not_run(page, c) is None and c not in pending]
    if not to_run and pending:
        pytest.xfail(f"{page}: pending: " + "; ".join(f"`{c}`: {PENDING[f'{page}: {c}']}" for c in pending))
    if not to_run:
        pytest.skip(f"{page}: no command to run here ({len(cmds)} covered elsewhere or synopses)")
    clone = fresh_clone(tmp_path / "clone")
    env = _env(tmp_path)
    failures = []
    for cmd in to_run:
        want = EXIT.get(cmd, 0)
        try:
            p = subprocess.run(["bash", "-c", cmd], cwd=clone, env=env, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            failures.append(f"$ {cmd}\n  ran past 300 s")
            continue
        if p.returncode != want:
            failures.append(f"$ {cmd}\n  exit {p.returncode}, the docs say {want}\n  stdout: {p.stdout[-1500:]}\n"
                            f"  stderr: {p.stderr[-1500:]}")
        elif "internal error" in p.stderr or "Traceback (most recent call last)" in p.stderr:
            failures.append(f"$ {cmd}\n  {p.stderr[-1500:]}")
    assert not failures, f"{page}:\n" + "\n".join(failures)
    if pending:
        pytest.xfail(f"{page}: pending: " + "; ".join(f"`{c}`: {PENDING[f'{page}: {c}']}" for c in pending))
