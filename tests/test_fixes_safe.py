"""Issue 15 item 6: a `narrower-data` fix offers the largest lawful part first, and never a part marked more
sensitive than the data asked for."""

from __future__ import annotations

import itertools

import engine
from engine.eval.fixes import _declared_sensitivity

from conftest import D2005

BUNDLE = """
organisation A "Body A"
organisation B "Body B"
purpose p "Purpose"
data whole "Whole record" personal
data health "Health fields" under whole special-category
data contact "Contact details" under whole
data phone "Phone numbers" under contact
gateway G "A to B" {
  statute LSA-2000 "section 1"
  allows A -> B
  data %s
  for p
  lawful-basis public-task
  article-9 "a condition"
}
"""


def _narrower(decision) -> list[str]:
    return [f.data for f in decision.fixes if f.kind == "narrower-data"]


def test_the_story_fix_is_the_ilr_not_its_special_category_leaf(default_policy):
    d = default_policy.decide("LSC", "DfES", "learner-record", "funding", on=D2005)
    assert d.verdict == "deny"
    assert _narrower(d) == ["individualised-learner-record"]
    assert default_policy.allowed("LSC", "DfES", "individualised-learner-record", "funding", on=D2005)
    assert "ilr-disability-fields" not in str(d.to_dict()["fixes"])


def test_a_more_sensitive_part_is_never_offered_even_when_it_is_the_only_lawful_one(make_bundle):
    p = engine.load(make_bundle({"b.policy": BUNDLE % "health"}))
    assert p.allowed("A", "B", "health", "p", on=D2005)  # lawful: but special-category, `whole` is not
    d = p.decide("A", "B", "whole", "p", on=D2005)
    assert d.verdict == "deny" and _narrower(d) == []


def test_the_largest_lawful_part_comes_first(make_bundle):
    p = engine.load(make_bundle({"b.policy": BUNDLE % "contact, phone"}))
    assert p.allowed("A", "B", "phone", "p", on=D2005) and p.allowed("A", "B", "contact", "p", on=D2005)
    assert _narrower(p.decide("A", "B", "whole", "p", on=D2005)) == ["contact"]  # not `phone`, inside it


def test_no_offered_part_is_more_sensitive_than_the_data_asked_for_in_the_default_bundle(default_policy):
    p = default_policy
    orgs = ["LSC", "DfES", "ALI", "QCA", "HESA", "HEFCE", "JCP", "DWP", "HMRC", "Connexions"]
    data = [p.data_name(k) for k in p.data if p.data_tree.descendants.get(k, frozenset()) - {k}]
    offered = 0
    for s, r in itertools.permutations(orgs, 2):
        for d in data:
            for purpose in ("funding", "research", "inspection", "youth-support"):
                if p.allowed(s, r, d, purpose, on=D2005):
                    continue
                for part in _narrower(p.decide(s, r, d, purpose, on=D2005, routes=False)):
                    offered += 1
                    assert _declared_sensitivity(p, p.data_key(part)) <= _declared_sensitivity(p, p.data_key(d)), \
                        (s, r, d, purpose, part)
    assert offered, "some narrower-data fix is offered on the default bundle"
