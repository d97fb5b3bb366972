"""`vrprune compile`: a proved graph -> a standalone C program per device (docs/compile.md).

    from vrprune.compile import compile_app, build
    res = compile_app("app.vpr", "build/client", mapping="client.map")   # proves, then generates
    exe = build(res.program)                                              # cc, like `make`

The program runs the same user C actor sources as the Python executor (vrprune.h, unchanged),
with the same blocking firing rule, and its TX/RX endpoints speak the Python executor's wire
protocol (vrprune/net/_wire.py), so compiled and Python-run hosts mix freely.
"""

from ._app import CompileResult, compile_app
from ._build import SANITIZERS, BuildError, binary_name, build
from ._gen import RUNTIME_DIR, CompileError, Program, generate

__all__ = ["BuildError", "CompileError", "CompileResult", "Program", "RUNTIME_DIR", "SANITIZERS", "binary_name",
           "build", "compile_app", "generate"]
