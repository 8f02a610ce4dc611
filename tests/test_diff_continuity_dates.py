"""`lawful diff` dates its ranges at issue 12's boundaries too: a class membership that begins or ends, and the
day a body receives functions by a transfer (found when the default bundle dated the persons prescribed for EA
1996 s.537A, issue 14: a widened gateway was reported as newly allowing flows to OfSTED for months after its
membership ended). Each reported range is checked against the two policies' own decisions."""

from __future__ import annotations

import datetime as dt
import json

from typer.testing import CliRunner

import engine
from cli import app

VOCAB = """
class prescribed "Prescribed persons"
organisation A "A"
organisation B "B" is prescribed from 2004-01-01 until 2005-12-31
organisation C "C"
organisation D "D"
transfer C to D on 2006-06-01 continues
data d "d" personal
data d2 "d2" personal
purpose p "p"
"""
GATEWAY = """
gateway G "g" {
  statute LSA-2000 "s.1"
  allows A -> prescribed, C
  data DATA
  for p
  lawful-basis public-task
}
"""


def test_ranges_end_where_a_membership_ends_and_begin_where_functions_arrive(make_bundle, tmp_path):
    old = make_bundle({"b.policy": VOCAB + GATEWAY.replace("DATA", "d")})
    new_dir = tmp_path / "new"
    new_dir.mkdir()
    for f in old.rglob("*"):
        if f.is_file():
            target = new_dir / f.relative_to(old)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    (new_dir / "policies" / "b.policy").write_text(VOCAB + GATEWAY.replace("DATA", "d, d2"), encoding="utf-8")
    r = CliRunner().invoke(app, ["diff", str(old), str(new_dir), "--format", "json"])
    assert r.exit_code == 1, r.output
    ranges = {(f["recipient"], f["data"]): (f["from"], f["until"]) for f in json.loads(r.output)["flows"]}
    assert ranges[("B", "d2")] == ("2004-01-01", "2005-12-31"), ranges
    assert ranges[("D", "d2")][0] == "2006-06-01", ranges
    o, n = engine.load(old), engine.load(new_dir)
    for day, lawful in ((dt.date(2006, 1, 1), False), (dt.date(2005, 12, 31), True)):
        assert n.allowed("A", "B", "d2", "p", on=day) is lawful and not o.allowed("A", "B", "d2", "p", on=day)
    assert not n.allowed("A", "D", "d2", "p", on=dt.date(2006, 5, 31))


def test_the_picture_labels_a_renamed_body_with_the_name_it_had_on_the_date(make_bundle):
    """A renamed body is one organisation whose id is its latest name; the picture of an earlier date labels it
    with the name in use then (the default bundle's 2005 picture showed the LCD/DCA as `MoJ`, issue 14)."""
    from engine.render import graph

    root = make_bundle({"b.policy": 'organisation TTA "Teacher Training Agency"\n'
                                    'organisation TDA "Training and Development Agency" renames TTA on 2005-09-01\n'})
    policy = engine.load(root)
    before = graph.to_dot(policy, graph.build(policy, on=dt.date(2005, 6, 23)))
    after = graph.to_dot(policy, graph.build(policy, on=dt.date(2006, 1, 1)))
    assert "TTA" in graph.to_mermaid(policy, graph.build(policy, on=dt.date(2005, 6, 23)))
    assert '"tda" [label="TTA"' in before and '"tda" [label="TDA"' in after
