"""A graph broken in exactly one design rule is reported with that rule's id."""

from hypothesis import given, settings
from hypothesis import strategies as st

from vrprune.testing import dpg_graphs, mutations
from vrprune.verify import prove


@settings(max_examples=150)
@given(st.data())
def test_one_rule_mutation_is_reported_with_its_id(data):
    g = data.draw(dpg_graphs(max_actors=6))
    bad, rule = data.draw(mutations(g))
    codes = {d.code for d in prove(bad).diagnostics}
    assert rule in codes, (rule, codes)
