"""A graph broken in exactly one design rule is reported with that rule's id (and no other
design rule): every mutation of vrprune.testing.mutations, R1-R8."""

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vrprune.testing import dpg_graphs, graphs, mutations
from vrprune.verify import prove

RULES = ("R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8")


@settings(max_examples=80)
@given(st.data())
def test_one_rule_mutation_is_reported_with_its_id(data):
    g = data.draw(dpg_graphs(max_actors=6))
    bad, rule = data.draw(mutations(g))
    codes = {d.code for d in prove(bad).diagnostics}
    assert rule in codes, (rule, codes)


@pytest.mark.parametrize("rule", RULES)
@settings(max_examples=25)
@given(data=st.data())
def test_each_rule_alone(rule, data):
    g = data.draw(graphs(max_actors=6, dpg=False) if rule in ("R1", "R2") else dpg_graphs(max_actors=7))
    try:
        strat = mutations(g, rules=(rule,))
    except ValueError:
        assume(False)
    bad, got = data.draw(strat)
    assert got == rule
    rep = prove(bad)
    assert rep.verdict == "refuted"
    assert {d.code for d in rep.diagnostics if d.code.startswith("R")} == {rule}, \
        (rule, [(d.code, d.message) for d in rep.diagnostics])
