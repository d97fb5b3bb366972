"""Verification: design rules, consistency, and z3 proofs of deadlock and overflow freedom."""

from ._bufsize import SizeResult, size
from ._consistency import repetition_vector
from ._prove import SCHEMA, VERDICT_EXIT_CODES, Certificate, Counterexample, Property, Report, prove
from ._rules import DpgInfo, check_rules

__all__ = ["SCHEMA", "VERDICT_EXIT_CODES", "Certificate", "Counterexample", "DpgInfo", "Property", "Report",
           "check_rules", "prove", "repetition_vector", "SizeResult", "size"]
