"""Random mappings onto two hosts (vrprune.testing.mappings) split cleanly: DPGs stay on one
host, only static edges cross, the two local graphs partition the actors, and splitting never
turns a proved graph into a refuted one (TX/RX relays only add buffering)."""

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vrprune.net._split import split
from vrprune.testing import graphs, mappings
from vrprune.verify import prove

N = settings().max_examples


@settings(max_examples=max(N // 4, 50))
@given(st.data())
def test_random_mappings_split_and_keep_the_proof(data):
    g = data.draw(graphs(max_actors=6))
    m0, m1 = data.draw(mappings(g))
    s0, s1 = split(g, m0), split(g, m1)
    names = {a.name for a in g.actors}
    local0 = {a.name for a in s0.local.actors} & names
    local1 = {a.name for a in s1.local.actors} & names
    assert local0 | local1 == names and not local0 & local1
    hosts = {p.actor: p.host for p in m0.placements}
    for d in g.dpgs:
        assert len({hosts[a] for a in d.actors}) == 1
    ix = g.index()
    for e in s0.edges:
        assert ix.src_port(e.fifo).kind.value == "static" and ix.dst_port(e.fifo).kind.value == "static"
    assert [e.name for e in s0.edges] == [e.name for e in s1.edges]
    rep = prove(g, timeout_s=20)
    assume(rep.verdict in ("proved", "refuted"))
    if rep.verdict == "proved":
        assert prove(s0.proof, timeout_s=20).verdict == "proved"
