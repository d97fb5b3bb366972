"""Helpers shared by the tests in tests/*/ (one place for them): process launchers and app/mapping
writers (procs), and the Python actor modules that graphs written by tests name by path
(explore_actors, throughput_actors).

Imported as ``from helpers.procs import ...``: tests/conftest.py is loaded first, and pytest's default
import mode ("prepend") puts its folder, tests/, on sys.path (tests/ is no package), whether the whole
suite or one file runs, from the repo root or anywhere else."""
