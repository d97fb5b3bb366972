"""Verification: design rules, consistency, and z3 proofs of deadlock and overflow freedom."""

from ._bruteforce import explore as brute_force
from ._bufsize import SCHEMA as BUFSIZE_SCHEMA
from ._bufsize import SizeResult, size
from ._bufsize import prepare as prepare_sizing
from ._consistency import repetition_vector
from ._prove import SCHEMA, VERDICT_EXIT_CODES, Certificate, Counterexample, Property, Report, prove
from ._rules import DpgInfo, check_rules
from ._throughput import Model as ThroughputModel
from ._throughput import ThroughputError, exec_times, pareto, self_timed, timed_run, to_ticks

__all__ = ["SCHEMA", "VERDICT_EXIT_CODES", "Certificate", "Counterexample", "DpgInfo", "Property", "Report",
           "check_rules", "prove", "brute_force", "BUFSIZE_SCHEMA", "prepare_sizing", "ThroughputModel",
           "ThroughputError", "exec_times", "pareto", "self_timed", "timed_run", "to_ticks", "repetition_vector",
           "SizeResult", "size"]
