"""Every non-Python file the package reads at run time is listed in pyproject's package-data,
so that a plain `pip install .` (not editable) carries it."""

from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA_SUFFIXES = (".c", ".h", ".lark", ".cl", ".j2")


def test_runtime_sources_are_package_data():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        globs = tomllib.load(f)["tool"]["setuptools"]["package-data"]["vrprune"]
    pkg = os.path.join(ROOT, "vrprune")
    missing = []
    for d, _dirs, files in os.walk(pkg):
        for name in files:
            if name.endswith(DATA_SUFFIXES):
                rel = os.path.relpath(os.path.join(d, name), pkg).replace(os.sep, "/")
                if not any(fnmatch.fnmatch(rel, g) and rel.count("/") == g.count("/") for g in globs):
                    missing.append(rel)
    assert not missing, f"add to [tool.setuptools.package-data] in pyproject.toml: {missing}"


# ------------------------------------------------------------------ metadata, extras, py.typed
def _project() -> dict:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def _names(reqs: list[str]) -> set[str]:
    import re

    return {re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0].lower() for r in reqs}


HEAVY_EXTRAS = {"opencl": {"pyopencl", "pocl-binary-distribution"}, "plot": {"matplotlib"}, "tls": {"cryptography"},
                "onnx": {"onnx", "onnxruntime"}, "testing": {"hypothesis"}}


def test_heavy_parts_are_extras_and_all_and_test_bring_them():
    """Item 18: check/bufsize users install no OpenCL, PoCL, matplotlib, cryptography, onnx,
    hypothesis, and no sympy (nothing imports it); [all] and [test] install every part."""
    proj = _project()["project"]
    core = _names(proj["dependencies"])
    assert "sympy" not in core
    assert not core & set().union(*HEAVY_EXTRAS.values()), core
    extras = proj["optional-dependencies"]
    for extra, names in HEAVY_EXTRAS.items():
        assert names <= _names(extras[extra]), (extra, extras[extra])
    assert extras["all"] == [f"vrprune[{','.join(HEAVY_EXTRAS)}]"]
    assert "vrprune[all]" in extras["test"] and "pytest" in _names(extras["test"])
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
        assert ".[test]" in f.read()  # CI installs everything


def test_nothing_imports_sympy():
    pkg = os.path.join(ROOT, "vrprune")
    for d, _dirs, files in os.walk(pkg):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(d, name), encoding="utf-8") as f:
                    assert "sympy" not in f.read(), os.path.join(d, name)


def test_version_license_and_typing_marker():
    """Item 19: one version (vrprune.__version__, read by setuptools), an MIT LICENSE file,
    py.typed shipped as package data, classifiers."""
    import vrprune

    proj = _project()
    assert "version" not in proj["project"] and "version" in proj["project"]["dynamic"]
    assert proj["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "vrprune.__version__"}
    assert os.path.isfile(os.path.join(ROOT, "vrprune", "py.typed"))
    assert "py.typed" in proj["tool"]["setuptools"]["package-data"]["vrprune"]
    with open(os.path.join(ROOT, "LICENSE"), encoding="utf-8") as f:
        text = f.read()
    assert text.startswith("MIT License") and "vrprune developers" in text
    assert "License :: OSI Approved :: MIT License" in proj["project"]["classifiers"]
    assert "Typing :: Typed" in proj["project"]["classifiers"]
    assert vrprune.__version__.count(".") == 2


BLOCK = ("import sys\n"
         "for m in ('pyopencl', 'matplotlib', 'cryptography', 'hypothesis', 'onnx', 'onnxruntime'):\n"
         "    sys.modules[m] = None  # as if the extras were not installed\n")


def _without_extras(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_vrprune_testing_without_hypothesis_names_the_extra():
    """Item 17: `import vrprune.testing` after a plain install said only 'No module named hypothesis'."""
    p = _without_extras("import vrprune.testing\n")
    assert p.returncode == 1
    assert "pip install 'vrprune[testing]'" in p.stderr, p.stderr
    p = _without_extras("try:\n    import vrprune.testing\nexcept ImportError as e:\n    print('ImportError', e)\n")
    assert p.stdout.startswith("ImportError") and "vrprune[testing]" in p.stdout, p.stdout + p.stderr


def test_commands_without_their_extra_say_which_to_install(tmp_path):
    """A command that needs a missing extra exits 2 naming it (was: internal error, exit 70, or a
    bare ModuleNotFoundError); a plain install still checks and runs numpy actors."""
    main = "from vrprune.cli import main_with\nsys.exit(main_with(sys.argv[1:], sys.stdout, sys.stderr))\n"

    def cli(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", BLOCK + main, *argv], capture_output=True, text=True, cwd=ROOT,
                              timeout=300)

    p = cli("explore", "examples/vehicle/vehicle_c.vpr", "--platform", "specs/platform.vpr",
            "--out", str(tmp_path / "x"))
    assert p.returncode == 2 and "pip install 'vrprune[plot]'" in p.stderr, p.stderr
    assert not (tmp_path / "x").exists()  # said before the sweep
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    p = cli("import", str(model), "-o", str(tmp_path / "o"))
    assert p.returncode == 2 and "pip install 'vrprune[onnx]'" in p.stderr, p.stderr
    p = cli("keygen", "--tls", str(tmp_path / "keys"))
    assert p.returncode == 0 and "pip install 'vrprune[tls]'" in p.stderr and "openssl req" in p.stdout, p.stderr
    p = cli("run", "examples/vehicle/vehicle_cl.vpr", "--iterations", "1")
    assert p.returncode == 2 and "pip install 'vrprune[opencl]'" in p.stderr, p.stderr
    p = cli("run", "examples/vehicle/vehicle_np.vpr", "--iterations", "1")
    assert p.returncode == 0, p.stderr


def test_no_absolute_anchor_paths_in_bench():
    """Item 16: bench/ finds the shared anchors at ../shared/anchors/ from the repository root."""
    bench = os.path.join(ROOT, "bench")
    for name in os.listdir(bench):
        if name.endswith(".py"):
            with open(os.path.join(bench, name), encoding="utf-8") as f:
                assert "/work/" not in f.read(), name
    sys.path.insert(0, bench)
    try:
        import bench_exec_chain
    finally:
        sys.path.remove(bench)
    want = os.path.normpath(os.path.join(ROOT, "..", "shared", "anchors", "gnuradio_chain.py"))
    assert bench_exec_chain.ANCHOR == want
