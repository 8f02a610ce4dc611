"""Classes and exclusions in every party list (issue 12, part 3): hypothesis properties over random bundles.

- An exclusion narrows the list it is written on: on a gateway's `allows` or an agreement's `from … to …` it
  never adds an ALLOW; on a restriction's `one-way` or `forbids` it never removes one; on `except to` (which
  lifts a bar) it never adds one.
- Adding a member to a class never removes an ALLOW from an agreement or an `onward to` naming the class
  (tests/test_classes.py checks it for a gateway's `allows`).
- `lawful diff` reports a changed exclusion as a change of the rule it is written on, and its flows are exactly
  the brute force's.
The decisions themselves are spec cases (tests/spec/decisions/exclusions.yaml, tests/spec/routes/onward-to-class.yaml).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from bundlegen import DATES, Bundle, all_questions, bundles
from conftest import MINI_REGISTER
from engine.review.diff import brute_force, diff_policies

EXAMPLES = int(os.environ.get("LAWFUL_EXAMPLES", "30"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
WINDOWS = ["", " from 2005-06-23", " until 2008-01-26", " from 2000-01-01 until 2009-01-01"]


def _with_class(data, b: Bundle) -> Bundle:
    """The bundle with `class C-TEST` and a few members, each maybe dated."""
    members = data.draw(st.lists(st.sampled_from(b.orgs), min_size=1, max_size=3, unique=True))
    items = []
    for item in b.items:
        for o in members:
            if item.startswith(f"organisation {o} "):
                item += f" is C-TEST{data.draw(st.sampled_from(WINDOWS))}"
        items.append(item)
    return Bundle(b.orgs, b.data, b.purposes, tuple(items) + ('class C-TEST "a class"',), b.gateways)


def _load(b: Bundle, extra: str) -> engine.Policy:
    return engine.load_texts({"policies/main.policy": "\n".join(b.items + (extra,)) + "\n"}, MINI_REGISTER)


def _allowed(p: engine.Policy, b: Bundle) -> set:
    return {q for q in all_questions(b, 150) if p.allowed(q.source, q.recipient, q.data, q.purpose, on=q.on,
                                                          assume=q.assume)}


def _party(data, b: Bundle) -> str:
    return ", ".join(data.draw(st.lists(st.sampled_from(list(b.orgs) + ["C-TEST"]), min_size=1, max_size=2,
                                        unique=True)))


RULES = ("allows", "from", "one-way", "forbids", "except-to")


def _rule(kind: str, b: Bundle, src: str, dst: str, src_except: str, dst_except: str) -> str:
    """One rule naming the parties, with exclusions where given (`A except B`)."""
    def side(names: str, excluded: str) -> str:
        return names + (f" except {excluded}" if excluded else "")

    scope = f"  data {', '.join(b.data)}\n  for {', '.join(b.purposes)}\n"
    basis = '  lawful-basis public-task\n  article-9 "c"\n  article-10 "c"\n'
    if kind == "allows":
        return (f'gateway G-X "x" {{\n  statute LSA-2000\n  allows {side(src, src_except)} -> {side(dst, dst_except)}\n'
                + scope + basis + "}\n")
    if kind == "from":
        gateway = f'gateway G-X "x" {{\n  statute LSA-2000\n  allows * -> *\n{scope}  requires agreement\n}}\n'
        return gateway + (f'agreement A-X "x" {{\n  from {side(src, src_except)} to {side(dst, dst_except)}\n'
                          f"{scope}  under G-X\n{basis}}}\n")
    if kind == "one-way":
        return f'restriction R-X "x" {{\n  statute SSAA-1992\n  one-way {side(src, src_except)}\n}}\n'
    if kind == "forbids":
        return (f'restriction R-X "x" {{\n  statute SSAA-1992\n  forbids {side(src, src_except)} -> '
                f"{side(dst, dst_except)}\n}}\n")
    return (f'restriction R-X "x" {{\n  statute SSAA-1992\n  forbids {src} -> *\n'
            f"  except to {side(dst, dst_except)}\n}}\n")


@SETTINGS
@given(st.data())
def test_an_exclusion_narrows_the_list_it_is_written_on(data):
    b = _with_class(data, data.draw(bundles()))
    kind = data.draw(st.sampled_from(RULES))
    src, dst = _party(data, b), _party(data, b)
    src_except = _party(data, b) if data.draw(st.booleans()) else ""
    dst_except = _party(data, b) if data.draw(st.booleans()) or not src_except else ""
    if kind == "except-to":  # one list: the exception's `to`
        src_except, dst_except = "", dst_except or src_except
    elif kind == "one-way":  # one list: the bodies bound
        src_except, dst_except = src_except or dst_except, ""
    plain = _allowed(_load(b, _rule(kind, b, src, dst, "", "")), b)
    narrowed = _allowed(_load(b, _rule(kind, b, src, dst, src_except, dst_except)), b)
    if kind in ("allows", "from", "except-to"):  # it allows (or lifts a bar for) fewer flows
        assert narrowed <= plain, sorted(map(str, narrowed - plain))[:3]
    else:  # it bars fewer flows
        assert plain <= narrowed, sorted(map(str, plain - narrowed))[:3]


@SETTINGS
@given(st.data())
def test_adding_a_class_member_never_removes_an_allow_from_an_agreement_naming_the_class(data):
    b = data.draw(bundles())
    newcomer = data.draw(st.sampled_from(b.orgs))
    window = data.draw(st.sampled_from(WINDOWS))
    others = _party(data, b).replace("C-TEST", b.orgs[0])
    src, dst = data.draw(st.sampled_from([("C-TEST", others), (others, "C-TEST"), ("C-TEST", "C-TEST")]))
    rule = _rule("from", b, src, dst, "", "")
    base = Bundle(b.orgs, b.data, b.purposes, b.items + ('class C-TEST "a class"',), b.gateways)
    members = [o for o in data.draw(st.lists(st.sampled_from(b.orgs), max_size=2, unique=True)) if o != newcomer]

    def with_members(names: list[str]) -> engine.Policy:
        items = []
        for item in base.items:
            for o in names:
                if item.startswith(f"organisation {o} "):
                    item += " is C-TEST" + (window if o == newcomer else "")
            items.append(item)
        return _load(Bundle(b.orgs, b.data, b.purposes, tuple(items), b.gateways), rule)

    before = _allowed(with_members(members), b)
    after = _allowed(with_members(members + [newcomer]), b)
    assert before <= after, sorted(map(str, before - after))[:3]


@SETTINGS
@given(st.data())
def test_diff_reports_a_changed_exclusion_as_a_change_of_its_rule(data):
    b = _with_class(data, data.draw(bundles()))
    kind = data.draw(st.sampled_from(RULES))
    src, dst = _party(data, b), _party(data, b)
    excluded = _party(data, b)
    on_source = kind == "one-way" or (kind != "except-to" and data.draw(st.booleans()))
    old = _load(b, _rule(kind, b, src, dst, "", ""))
    new = _load(b, _rule(kind, b, src, dst, excluded if on_source else "", "" if on_source else excluded))
    on = data.draw(st.sampled_from(DATES))
    result = diff_policies(old, new, on)
    want = {"allows": ("gateway", "G-X"), "from": ("agreement", "A-X")}.get(kind, ("restriction", "R-X"))
    assert (want[0], want[1]) in [(c.kind, c.id) for c in result.changes], result.changes
    got = {(f.source.lower(), f.recipient.lower(), f.data.lower(), f.purpose.lower()) for f in result.flows}
    assert got == brute_force(old, new, on)


def test_show_writes_each_party_list_with_its_exclusions():
    # `lawful show` (the catalogue) must not present a narrowed list as the whole class
    from pathlib import Path

    import yaml

    from engine.eval.catalogue import find

    spec = yaml.safe_load((Path(__file__).parent / "spec" / "decisions" / "exclusions.yaml").read_text("utf-8"))
    policy = engine.load_texts({"policies/main.policy": spec["policy"]}, spec["register"])

    def details(name: str) -> dict:
        (entry,) = [e for e in find(policy, name) if e.id == name]
        return entry.to_dict()["details"]

    assert details("A-FROM")["from_except"] == ["NHS-England"] and details("A-FROM")["to_except"] == ["Camden"]
    assert details("R-ONE-WAY")["one_way_except"] == ["Leeds-CC"]
    assert details("R-HMRC")["exceptions"] == ["to public-authority except NHS-England"]
    assert details("R-STAR")["forbids"] == ["* except dea-sch4 -> Charity"]
    roles = {(r.id, r.role) for e in find(policy, "NHS-England") for r in e.related}
    assert ("A-FROM", "leaves it out") in roles and ("R-HMRC", "leaves it out") in roles


def test_the_editor_sees_every_name_of_a_party_list_and_the_statute_of_an_assumed_provision():
    # go to definition, references and rename (engine/ops/lsp) work on excluded names and on `STATUTE/PROVISION`
    from engine.ops.lsp.symbols import file_occurrences
    from engine.syntax.parser import parse_text

    text = ('agreement A "a" {\n  from public-authority except NHS-England to LA except Leeds-CC\n  data d\n  for p\n'
            '  under G\n  onward to dea-sch4 except HMRC\n}\n'
            'restriction R "r" {\n  one-way LA except Camden\n  except to DWP except JCP\n}\n'
            'test "t" {\n  expect allow A -> B d assuming ESA-2008/section-15\n}\n')
    occurrences = file_occurrences(parse_text(text))
    found = {(o.kind, o.text, o.span.line, o.span.column, o.span.end_column) for o in occurrences}
    for name, line in (("NHS-England", 2), ("Leeds-CC", 2), ("HMRC", 6), ("Camden", 9), ("JCP", 10)):
        assert any(kind == "organisation" and n == name and ln == line for kind, n, ln, _c, _e in found), name
    assert ("statute", "ESA-2008", 13, 34, 42) in found
