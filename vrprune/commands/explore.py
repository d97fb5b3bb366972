"""`vrprune explore APP --platform P`: sweep the endpoint/server partition point."""

from __future__ import annotations

import argparse
import json
import os
from typing import TextIO

from .run import add_param_argument, core_count, slowdown_factor

EXIT_CODES = """exit codes:
  0    the sweep ran (or was predicted) and every run ended cleanly
  1    the graph is refuted (nothing run) or some runs failed (see DIR/results.jsonl)
  2    usage or input error
  3    the checker was inconclusive (nothing run)
  (after an interruption, 130, run the same command again to resume)
"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "explore", help="sweep the endpoint/server partition point: predict, run and measure each, recommend one",
        description="Enumerate the partition points of a graph (the precedence-closed sets of actors kept on the "
                    "endpoint), write an endpoint/server mapping pair and run scripts for each to DIR/points/, "
                    "predict each point from profiled actor times, token sizes and the link, run each over every "
                    "--link (unless --predict-only), and print a table, DIR/results.{csv,json}, DIR/explore.png "
                    "and the best point under the privacy floor. A killed sweep resumes from DIR/results.jsonl. "
                    "See docs/explore.md.")
    p.add_argument("file", help="the application graph (.vpr)")
    p.add_argument("--graph", help="which graph, when the file defines several")
    add_param_argument(p)
    p.add_argument("--platform", required=True, metavar="P.vpr", help="platform file (hosts, units, link)")
    p.add_argument("--endpoint", metavar="HOST", help="the endpoint host (default: host 'endpoint', else the first)")
    p.add_argument("--server", metavar="HOST", help="the server host (default: host 'server', else the second)")
    p.add_argument("--link", action="append", metavar="LINKS",
                   help="links to sweep: comma-separated presets (ethernet100,wifi16,wifi72,loopback) or one "
                        "custom BW,LAT such as 5MB/s,2ms per --link; repeatable (default: the platform's link)")
    floor = p.add_mutually_exclusive_group()
    floor.add_argument("--min-local", type=int, default=0, metavar="K",
                       help="privacy floor: at least K actors stay on the endpoint")
    floor.add_argument("--private-input", action="store_true",
                       help="privacy floor: the raw input (any edge out of a source actor) never leaves the endpoint")
    p.add_argument("--frames", type=int, default=10, metavar="N", help="frames (graph iterations) per run (default 10)")
    p.add_argument("--out", metavar="DIR", help="output folder (default explore-GRAPH)")
    p.add_argument("--slowdown", type=slowdown_factor, default=1.0, metavar="F",
                   help="endpoint emulation: each endpoint firing that takes t s is stretched to F*t (F >= 1, "
                        "default 1; passed to the endpoint's `vrprune run --slowdown`)")
    p.add_argument("--endpoint-cores", type=core_count, default=1, metavar="C",
                   help="endpoint emulation: at most C endpoint firings at a time (default 1; 0 = unbounded; "
                        "passed to the endpoint's `vrprune run --endpoint-cores`)")
    p.add_argument("--max-points", type=int, default=32, metavar="M",
                   help="sweep at most M partition points (fully local, the topological cuts, then the best "
                        "predicted; default 32)")
    p.add_argument("--measure", type=int, metavar="N", help="run only the N best predicted points (the rest predicted)")
    p.add_argument("--predict-only", action="store_true",
                   help="run nothing but the fully local profiling run (none when --profile is given)")
    p.add_argument("--exit-rate", type=float, default=None, metavar="P",
                   help="early exits: the share of frames (0..1) whose DPGs are pruned (atr 0), for the predictions "
                        "(default: as measured in the fully local run); every point of a graph with DPGs is also "
                        "predicted at exit rates 0, 0.25, 0.5, 0.75 and 1 in results.json (docs/early-exit.md)")
    p.add_argument("--profile", metavar="PROFILE.json",
                   help="actor times for the prediction (from `vrprune run --profile`); default: the fully local run")
    p.add_argument("--runner", choices=["auto", "distributed", "emulated"], default="auto",
                   help="how points are measured: two `vrprune run` processes over loopback (distributed), or one "
                        "process with link delays on the cut edges (emulated, labelled so); auto (default) = "
                        "distributed")
    p.add_argument("--stub-missing", action="store_true",
                   help="actors without an implementation zero-fill their outputs (structural runs)")
    p.add_argument("--fresh", action="store_true", help="discard DIR/results.jsonl instead of resuming")
    p.add_argument("--unchecked", action="store_true", help="do not prove the graph first (warns)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="checker time limit (default 60)")
    p.add_argument("--format", choices=["text", "json"], default="text", help="stdout format (default text)")
    p.add_argument("--no-plot", action="store_true", help="do not draw DIR/explore.png")
    return p


def _pick_platform(path: str):
    from .. import load_module
    from ..diagnostics import VrpruneError

    mod = load_module(path)
    plats = [p for p in mod.platforms if len(p.hosts) >= 2]
    if len(plats) != 1:
        raise VrpruneError(f"{path}: expected one platform with two hosts (endpoint and server), found "
                           f"{len(plats)}")
    return plats[0]


def _hosts(plat, endpoint: str | None, server: str | None) -> tuple[str, str]:
    from ..diagnostics import VrpruneError

    names = [h.name for h in plat.hosts]
    ep = endpoint or ("endpoint" if "endpoint" in names else names[0])
    sv = server or ("server" if "server" in names else next(n for n in names if n != ep))
    for h in (ep, sv):
        if h not in names:
            raise VrpruneError(f"platform '{plat.name}' has no host '{h}' (hosts: {', '.join(names)})")
    if ep == sv:
        raise VrpruneError("the endpoint and the server must be different hosts")
    return ep, sv


def _default_links(plat, ep: str, sv: str) -> list[str]:
    from ..links import LinkSpec

    for ln in plat.links:
        if {ln.a, ln.b} == {ep, sv}:
            if ln.preset:
                return [ln.preset]
            return [LinkSpec("", ln.bandwidth_Bps or 0.0, ln.latency_s or 0.0).as_option()]
    return ["ethernet100"]


def run(args, stdout: TextIO, stderr: TextIO) -> int:
    from ..diagnostics import VrpruneError
    from ..explore import (
        DistributedRunner,
        EmulatedRunner,
        Precedence,
        failure_lines,
        nothing_to_plot,
        render_csv,
        render_json,
        render_text,
        run_sweep,
        write_png,
        write_point_files,
    )
    from ..links import parse_links
    from ..pipeline import ProveOptions, load_app, prove_or_refuse
    from ._gate import refused

    warn = lambda m: print(m, file=stderr)  # noqa: E731
    for name, v, lo in (("--frames", args.frames, 1), ("--max-points", args.max_points, 1),
                        ("--min-local", args.min_local, 0)):
        if v < lo:
            print(f"vrprune explore: error: {name} must be at least {lo}", file=stderr)
            return 2
    if args.exit_rate is not None and not 0 <= args.exit_rate <= 1:
        print(f"vrprune explore: error: --exit-rate must lie in [0, 1] (a share of frames), got {args.exit_rate:g}",
              file=stderr)
        return 2
    if not args.no_plot:  # say so before the sweep, not after it
        from .._extras import require

        require("matplotlib", "plot", "the sweep's plot (explore.png; --no-plot skips it)")
    # every path once, now: the runs happen in DIR/points/<id>/, child processes included
    shown_out = args.out
    for name in ("file", "platform", "profile", "out"):
        if getattr(args, name):
            setattr(args, name, os.path.abspath(getattr(args, name)))
    from ..frontend import ParamError

    try:
        app = load_app(args.file, args.graph, args.param)
    except ParamError as exc:
        print(f"vrprune explore: error: {exc}", file=stderr)
        return 2
    g = app.graph
    try:
        plat = _pick_platform(args.platform)
        ep, sv = _hosts(plat, args.endpoint, args.server)
        links = parse_links(args.link or _default_links(plat, ep, sv))
        profile = None
        if args.profile:
            try:
                with open(args.profile, encoding="utf-8") as f:
                    profile = json.load(f)
            except (OSError, ValueError) as exc:
                raise VrpruneError(f"cannot read profile {args.profile}: {exc}") from exc
    except VrpruneError as exc:
        if hasattr(exc, "diagnostics"):
            raise
        print(f"vrprune explore: error: {exc}", file=stderr)
        return 2

    if args.unchecked:
        warn(f"warning: exploring graph '{g.name}' without proving it (--unchecked): runs may deadlock or overflow")
    gate = prove_or_refuse(app, ProveOptions(timeout_s=args.timeout, unchecked=args.unchecked))
    if not gate.ok:
        return refused(gate, stderr, f"vrprune explore: refusing to explore graph '{g.name}': the checker's verdict "
                                     f"is {gate.verdict} (see `vrprune check {args.file}`)")
    repetition = gate.repetition()

    prec = Precedence(g, repetition)
    shown_out = shown_out or f"explore-{g.name}"
    outdir = args.out or os.path.abspath(shown_out)
    os.makedirs(outdir, exist_ok=True)

    runner: DistributedRunner | EmulatedRunner | None = None
    kind = "none"
    if not (args.predict_only and profile is not None):
        kind = "distributed" if args.runner == "auto" else args.runner
        if kind == "distributed":
            runner = DistributedRunner(app=args.file, graph_opt=args.graph, platform=plat, platform_path=args.platform,
                                       endpoint=ep, server=sv, slowdown=args.slowdown,
                                       endpoint_cores=args.endpoint_cores, stub_missing=args.stub_missing,
                                       unchecked=args.unchecked, warn=warn, params=args.param)
        else:
            runner = EmulatedRunner(slowdown=args.slowdown, endpoint_cores=args.endpoint_cores,
                                    stub_missing=args.stub_missing, warn=warn)
            if args.format == "text":
                warn("note: measuring with the EMULATED runner: one process, link delay inserted on the cut edges "
                     "(no sockets, no second process); the output says so")
    settings = {"app": os.path.abspath(args.file), "app_sha256": _sha(args.file), "graph": g.name,
                "platform": os.path.abspath(args.platform), "endpoint": ep, "server": sv,
                "frames": args.frames, "slowdown": args.slowdown, "endpoint_cores": args.endpoint_cores,
                "runner": kind, "stub_missing": args.stub_missing}
    if args.param:  # only when given: sweeps without --param resume as before
        settings["params"] = [f"{a}.{n}={v}" for a, n, v in args.param]

    def files(point):
        write_point_files(outdir, point, g, args.file, plat, args.platform, ep, sv, default_link=links[0].name,
                          frames=args.frames, graph_opt=args.graph, slowdown=args.slowdown,
                          endpoint_cores=args.endpoint_cores, params=args.param)

    try:
        res = run_sweep(g, prec, links=links, outdir=outdir, frames=args.frames, slowdown=args.slowdown,
                        runner=runner if not args.predict_only else (runner if profile is None else None),
                        max_points=args.max_points, min_local=args.min_local, private_input=args.private_input,
                        profile=profile, fresh=args.fresh, settings=settings, write_files=files, progress=stderr,
                        measure_limit=0 if args.predict_only else args.measure, log=warn,
                        exit_rate=args.exit_rate)
    except KeyboardInterrupt:
        print(f"vrprune explore: interrupted; run the same command again to resume from {shown_out}/results.jsonl",
              file=stderr)
        return 130
    except VrpruneError as exc:
        if hasattr(exc, "diagnostics"):
            raise
        print(f"vrprune explore: error: {exc}", file=stderr)
        return 2

    doc = render_json(res)
    _write(os.path.join(outdir, "results.json"), json.dumps(doc, indent=1) + "\n")
    _write(os.path.join(outdir, "results.csv"), render_csv(res))
    png = os.path.join(outdir, "explore.png")
    no_plot = None if args.no_plot else nothing_to_plot(res)
    if not args.no_plot and no_plot is None:
        write_png(res, png)
    elif no_plot is not None and os.path.exists(png):
        os.remove(png)  # an old sweep's plot would look like this one's
    if args.format == "json":
        json.dump(doc, stdout, indent=1)
        stdout.write("\n")
        for line in failure_lines(res):
            print(f"vrprune explore: {line.strip()}", file=stderr)
    else:
        stdout.write(render_text(res))
        plot = "" if args.no_plot or no_plot else ", explore.png"
        stdout.write(f"wrote {shown_out}/results.csv, results.json{plot}, points/*/ (mappings and run scripts)"
                     f"{f'; no plot: {no_plot}' if no_plot else ''}\n")
    return 1 if res.failures else 0


def _sha(path: str) -> str:
    import hashlib

    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def _write(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
