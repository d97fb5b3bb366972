"""Every non-Python file the package reads at run time is listed in pyproject's package-data,
so that a plain `pip install .` (not editable) carries it."""

from __future__ import annotations

import fnmatch
import os
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_SUFFIXES = (".c", ".h", ".lark", ".cl")


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
