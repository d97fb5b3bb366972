"""Verification: design rules, consistency, and z3 proofs of deadlock and overflow freedom."""

from ._bufsize import SizeResult, size
from ._consistency import repetition_vector
from ._prove import SCHEMA, Certificate, Counterexample, Property, Report, prove
from ._rules import DpgInfo, check_rules

__all__ = ["SCHEMA", "Certificate", "Counterexample", "DpgInfo", "Property", "Report", "check_rules",
           "prove", "repetition_vector", "SizeResult", "size"]
