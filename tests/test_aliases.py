"""Aliases: an alias equal to the organisation's own id (ignoring case), such as OfSTED `aka "Ofsted"`, is
harmless — no diagnostic, no crash — and every spelling finds the organisation."""

from __future__ import annotations

import datetime as dt

import engine
from conftest import MINI_REGISTER, ROOT


def test_default_bundle_ofsted_alias_gives_no_diagnostic():
    diags, _ = engine.check_bundle(ROOT, on=dt.date(2005, 6, 23))
    assert not [d for d in diags if "ofsted" in d.message.lower() and d.code in ("duplicate-id", "unknown-name")]
    assert not [d for d in diags if d.severity.value == "error"]


def test_every_spelling_of_ofsted_finds_it(default_policy):
    for name in ("OfSTED", "Ofsted", "ofsted", "OFSTED"):
        assert default_policy.org_key(name) == "ofsted"
        d = default_policy.decide(name, "DfES", "inspection-reports", "performance-monitoring",
                                  on=dt.date(2005, 7, 1))
        assert d.source == "OfSTED" and d.allowed, d.headline
    assert default_policy.org_key("OFSTED-2007") == "ofsted-2007"


SELF_ALIAS = """\
organisation OfSTED "Office for Standards in Education" aka "Ofsted", "OFSTED", "Office-for-Standards"
organisation LSC "Learning and Skills Council" aka "lsc"
data d "D"
purpose p "P"
gateway G "g" {
  statute LSA-2000 "section 1"
  allows LSC -> Ofsted
  data d
  for p
}
"""


def test_self_aliases_load_cleanly_and_resolve():
    policy = engine.load_texts({"policies/x.policy": SELF_ALIAS}, MINI_REGISTER)
    assert not policy.warnings
    d = policy.decide("lsc", "office-for-standards", "d", "p", on=dt.date(2005, 6, 23))
    assert d.allowed and d.recipient == "OfSTED" and d.source == "LSC"


def test_an_alias_that_is_another_organisations_id_is_still_refused():
    text = 'organisation A "a" aka "B"\norganisation B "b"\n'
    try:
        engine.load_texts({"policies/x.policy": text}, MINI_REGISTER)
    except engine.DiagnosticsError as exc:
        assert [d.code for d in exc.diagnostics] == ["duplicate-id"]
    else:
        raise AssertionError("an alias naming another organisation must be refused")
