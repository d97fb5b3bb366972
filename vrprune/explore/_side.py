"""One side of a measured run: ``python -m vrprune.explore._side [OPTIONS] -- run APP ...``.

Runs ``vrprune run`` (the real command, distributed or local) with every actor back-end
wrapped in :class:`SlowedBackend`: on the endpoint side each firing is stretched by the
slowdown factor and at most ``--endpoint-cores`` endpoint firings run at once; on both sides
each firing's (start, end) is recorded (``time.perf_counter``, CLOCK_MONOTONIC: comparable
between the two processes of one machine) and written to ``--spans OUT.json`` at the end.

The hook: ``vrprune.exec._runtime.make_backend`` is replaced in this process only (TX/RX
actors are built by vrprune.dist and are not wrapped). `vrprune run` has no slowdown option
of its own (yet).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print("usage: python -m vrprune.explore._side [--slowdown F] [--endpoint-cores C] [--spans OUT.json] "
              "-- run APP ...", file=sys.stderr)
        return 2
    cut = argv.index("--")
    p = argparse.ArgumentParser(prog="vrprune.explore._side")
    p.add_argument("--slowdown", type=float, default=1.0)
    p.add_argument("--endpoint-cores", type=int, default=0)
    p.add_argument("--spans")
    opts = p.parse_args(argv[:cut])
    rest = argv[cut + 1:]

    from ..cli import main_with
    from ..exec import _runtime
    from ._sweep import SlowedBackend

    orig = _runtime.make_backend
    gate = threading.Semaphore(opts.endpoint_cores) if opts.endpoint_cores > 0 else None
    wrapped: dict[str, SlowedBackend] = {}

    def make_backend(actor, unit=None, **kw):
        w = SlowedBackend(orig(actor, unit, **kw), opts.slowdown, gate)
        wrapped[actor.name] = w
        return w

    _runtime.make_backend = make_backend
    try:
        code = main_with(rest, sys.stdout, sys.stderr)
    finally:
        if opts.spans:
            doc = {name: {"spans": w.spans, "inner_s": w.inner_s} for name, w in wrapped.items()}
            with open(opts.spans, "w", encoding="utf-8") as f:
                json.dump(doc, f)
    return code


if __name__ == "__main__":
    sys.stdout.flush()
    sys.exit(main(sys.argv[1:]))
