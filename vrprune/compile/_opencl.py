"""Where the OpenCL ICD loader is, for programs with OpenCL actors (docs/compile.md).

In this order:

1. ``$VRPRUNE_OPENCL_LIB``: the loader library to link (a path), or linker flags (``-lOpenCL``,
   ``-L/opt/x/lib -lOpenCL``);
2. the loader bundled in the pyopencl wheel (``pyopencl/.libs/libOpenCL-*.so*``), the one the
   Python executor uses: linked by path with an RPATH to its folder (old-style DT_RPATH, so that
   the loader's own RPATH finds the PoCL ICD of ``pocl-binary-distribution`` next to it), and
   the program sets ``$PYOPENCL_HOME`` (that loader's way of finding ``pocl.icd``) unless the
   environment already does;
3. the system's ``libOpenCL.so`` (ocl-icd or the Khronos loader): ``-lOpenCL``; its ICDs come
   from /etc/OpenCL/vendors or ``$OCL_ICD_VENDORS``.

The Khronos headers (CL/cl.h, cl_platform.h, cl_version.h; Apache-2.0) are shipped in the
program's runtime/CL/, so no OpenCL development package is needed to build.
"""

from __future__ import annotations

import ctypes.util
import glob
import os
import shlex
from dataclasses import dataclass, field


@dataclass
class OpenCLLink:
    ldflags: list[str]  # linker arguments (after the objects)
    cflags: list[str] = field(default_factory=list)  # compile flags of runtime/vrp_cl.c
    where: str = ""  # for messages and the Makefile's comment


def _pyopencl_dir() -> str | None:
    import importlib.util

    try:
        spec = importlib.util.find_spec("pyopencl")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    return os.path.dirname(os.path.abspath(spec.origin))


def find_opencl() -> OpenCLLink | None:
    """How to link the OpenCL ICD loader here, or None when there is none."""
    env = os.environ.get("VRPRUNE_OPENCL_LIB", "").strip()
    if env:
        if os.path.isfile(env):
            d = os.path.dirname(os.path.abspath(env))
            return OpenCLLink([os.path.abspath(env), f"-Wl,--disable-new-dtags,-rpath,{d}"], [], env)
        return OpenCLLink(shlex.split(env), [], env)
    pd = _pyopencl_dir()
    if pd:
        libs = sorted(glob.glob(os.path.join(pd, ".libs", "libOpenCL*.so*")))
        if libs:
            lib = libs[0]
            d = os.path.dirname(lib)
            return OpenCLLink([lib, f"-Wl,--disable-new-dtags,-rpath,{d}"],
                              [f'-DVRP_PYOPENCL_HOME="{pd}"'], f"pyopencl's ICD loader ({lib})")
    if ctypes.util.find_library("OpenCL"):
        return OpenCLLink(["-lOpenCL"], [], "the system's libOpenCL")
    return None
