"""`vrprune fuzz`: run a user's graph under random admissible rate choices and scheduling
perturbations, and report deadlocks, capacity violations, crashes and non-determinism."""

from ._fuzz import Finding, FuzzReport, fuzz
from ._wrap import FuzzBackend

__all__ = ["Finding", "FuzzBackend", "FuzzReport", "fuzz"]
