"""The default bundle checked against the law, line by line (issue 14).

tests/legal/facts.yaml holds the legal facts as data (bodies and their changes, provisions and their
commencement, and the decisions that follow), each with its source. Each check below is a function that
returns the problems it finds, so that the meta-tests at the end can show every kind of check fails when the
bundle and the law disagree.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml

import engine

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
FACTS = yaml.safe_load((HERE / "facts.yaml").read_text(encoding="utf-8"))
REGISTER = yaml.safe_load((ROOT / "gateways.yaml").read_text(encoding="utf-8"))

END_CODES = {"succeeded", "ceased", "transferred"}
# A flow from any body to a body that exists throughout 1992-2018 (or the other way): only the body's own
# existence can stop it being considered.
ANCHOR, SPARE = "HEFCE", "HESA"
PROBE = ("provider-data", "planning")

# `A -> B data for P on D [assuming S, …] [given C, …] [received-under G] [own-data] [held-for F] [express-only]`
QUESTION = re.compile(
    r"^(?P<source>\S+)\s*->\s*(?P<recipient>\S+)\s+(?P<data>\S+)\s+for\s+(?P<purpose>\S+)"
    r"\s+on\s+(?P<on>\d{4}-\d{2}-\d{2})(?:\s+assuming\s+(?P<assume>\S+(?:\s*,\s*\S+)*))?"
    r"(?:\s+given\s+(?P<given>\S+(?:\s*,\s*\S+)*))?(?:\s+received-under\s+(?P<received_under>\S+))?"
    r"(?:\s+(?P<own_data>own-data))?(?:\s+held-for\s+(?P<held_for>\S+))?(?:\s+(?P<express_only>express-only))?\s*$")


@lru_cache(maxsize=1)
def policy() -> engine.Policy:
    return engine.load(ROOT)


def _day(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _name(body: str) -> str:
    """The name a body goes by in the bundle's answers: a former name is answered under the body's current id."""
    p = policy()
    key = p.org_alias.get(body.lower(), body.lower())
    return p.orgs[key].id.text.lower() if key in p.orgs else body.lower()


def _ends(d: engine.Decision, body: str) -> list[tuple[str, str]]:
    return [(c.code, c.reason) for c in d.considered if c.id.lower() == _name(body) and c.code in END_CODES]


def _starts(d: engine.Decision, body: str) -> bool:
    return any(c.id.lower() == _name(body) and c.code == "not-yet-existing" for c in d.considered)


def _probe(p: engine.Policy, body: str, day: dt.date) -> engine.Decision:
    other = SPARE if body.upper() == ANCHOR else ANCHOR
    return p.decide(body, other, *PROBE, on=day, fixes=False, routes=False)


# ---- the checks ------------------------------------------------------------------------------------------


def check_body(p: engine.Policy, fact: dict) -> list[str]:
    """One body event against the bundle: the body exists (or not) on the day before and on the date."""
    body, event, day = fact["body"], fact["event"], _day(fact["date"])
    before, on = _probe(p, body, day - dt.timedelta(days=1)), _probe(p, body, day)
    problems: list[str] = []
    if event == "exists-from":
        if not _starts(before, body):
            problems.append(f"{body} should not exist on {day - dt.timedelta(days=1)}")
        if _starts(on, body) or _ends(on, body):
            problems.append(f"{body} should exist on {day}")
    elif event in ("ceases", "transferred"):
        if _ends(before, body) or _starts(before, body):
            problems.append(f"{body} should still exist on {day - dt.timedelta(days=1)}")
        ends = _ends(on, body)
        want = "ceased" if event == "ceases" else "transferred"
        if [code for code, _ in ends] != [want]:
            problems.append(f"{body} should have {want} on {day}, the bundle says {ends or 'it exists'}")
        for successor in fact.get("to", []):
            if _starts(_probe(p, successor, day), successor) or _ends(_probe(p, successor, day), successor):
                problems.append(f"{successor}, which took {body}'s functions, should exist on {day}")
        named = [_name(t) for t in fact.get("to", [])]  # a reason names the body in plain words (no backticks)
        said = ends[0][1].lower() if ends else ""
        if event == "transferred" and ends and not any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", said)
                                                       for n in named):
            problems.append(f"{body}'s functions should pass to one of {fact['to']}: {ends[0][1]}")
    elif event == "renamed":
        new = fact["to"]
        if _ends(on, body) or _starts(on, body):
            problems.append(f"{body} should go on existing (as {new}) on {day}")
        shown = on.to_dict()["renamed"]
        if not any(r["organisation"].lower() == new.lower() and body.lower() in (f.lower() for f in r["formerly"])
                   for r in shown):
            problems.append(f"on {day} {body} should be shown as {new} (formerly {body}); the bundle shows {shown}")
        earlier = _probe(p, new, day - dt.timedelta(days=1))
        if _ends(earlier, new) or _starts(earlier, new):
            problems.append(f"{new} is the same body as {body}, so it exists (under the old name) before {day}")
    else:
        problems.append(f"unknown event `{event}`")
    return problems


def check_provision(register: dict, fact: dict) -> list[str]:
    """The register's record of one provision against the fact."""
    statute = register["statutes"].get(fact["statute"])
    if statute is None:
        return [f"{fact['statute']} is not in gateways.yaml"]
    record = (statute.get("provisions") or {}).get(fact["provision"])
    if record is None:
        return [f"{fact['statute']} {fact['provision']} is not listed under `provisions` with its own dates"]
    problems = []
    for key in ("status", "commenced", "repealed"):
        if key in fact and str(record.get(key)) != str(fact[key]):
            problems.append(f"{fact['statute']} {fact['provision']}: {key} is {record.get(key)}, "
                            f"the law says {fact[key]}")
    if fact.get("status") == "not-commenced" and ("commenced" in record or "windows" in record):
        problems.append(f"{fact['statute']} {fact['provision']} was not commenced but the register gives it dates")
    if not str(record.get("url", "")).startswith("https://www.legislation.gov.uk/"):
        problems.append(f"{fact['statute']} {fact['provision']} has no legislation.gov.uk URL")
    return problems


def ask(p: engine.Policy, text: str) -> engine.Decision:
    m = QUESTION.match(text)
    assert m, f"bad question `{text}`"
    names = lambda key: [s.strip() for s in m[key].split(",")] if m[key] else []  # noqa: E731
    return p.decide(m["source"], m["recipient"], m["data"], m["purpose"], on=_day(m["on"]), assume=names("assume"),
                    fixes=False, routes=False, given=names("given"), received_under=m["received_under"],
                    own_data=bool(m["own_data"]), held_for=m["held_for"], express_only=bool(m["express_only"]))


def check_decision(p: engine.Policy, fact: dict) -> list[str]:
    """One question: the bundle's answer and reasons against the lawful ones."""
    d = ask(p, fact["ask"])
    shown = f"`{fact['ask']}`: {d.headline}"
    problems: list[str] = []
    if d.verdict != fact["verdict"]:
        problems.append(f"{shown} - the law says {fact['verdict']}: {fact['why']}")
        return problems
    ids = d.reason_ids()
    problems += [f"{shown} - `{r}` should be among the reasons"
                 for r in fact.get("because", []) if r.lower() not in ids]
    problems += [f"{shown} - `{r}` should not be a reason" for r in fact.get("not_because", []) if r.lower() in ids]
    if "one_way" in fact:
        one_way = sorted(b["restriction"]["id"] for b in d.to_dict()["blocks"] if b["one_way"])
        if one_way != sorted(fact["one_way"]):
            problems.append(f"{shown} - one-way blocks {one_way}, expected {fact['one_way']}")
    for rule, code in (fact.get("codes") or {}).items():
        if not any(c.id.lower() == rule.lower() and c.code == code for c in d.considered):
            problems.append(f"{shown} - expected `{rule}` considered as `{code}`; got "
                            f"{[(c.id, c.code) for c in d.considered]}")
    basis, got = fact.get("basis"), d.to_dict()["basis"]
    if basis:
        if got is None or got["gateway"]["id"].lower() != basis["gateway"].lower():
            problems.append(f"{shown} - basis should be gateway {basis['gateway']}")
        elif "agreement" in basis and (got["agreement"] or {}).get("id") != basis["agreement"]:
            problems.append(f"{shown} - basis should be agreement {basis['agreement']}")
    out = d.to_dict()
    if "power" in fact and out.get("power") != fact["power"]:
        problems.append(f"{shown} - the power relied on should be {fact['power']}, not {out.get('power')}")
    regime = fact.get("regime")
    if regime:
        got_regime = out.get("regime") or {}
        if got_regime.get("id") != regime["id"]:
            problems.append(f"{shown} - the data-protection regime should be {regime['id']}, "
                            f"not {got_regime.get('id')}")
        for key in ("lawful_basis", "special_category"):
            if key in regime and (got_regime.get(key) or {}).get("id") != regime[key]:
                problems.append(f"{shown} - {key} should be {regime[key]} in {regime['id']}; got {got_regime.get(key)}")
    for marker in fact.get("sensitivity", []):
        if marker not in d.to_dict()["sensitivity"]:
            problems.append(f"{shown} - the data should count as {marker}")
    return problems


def check_sources(facts: dict) -> list[str]:
    """Every fact has a source URL; an unconfirmed one says where it was taken from."""
    problems = []
    for kind in ("bodies", "provisions", "decisions"):
        for fact in facts.get(kind, []):
            label = fact.get("body") or fact.get("provision") or fact.get("ask")
            if not str(fact.get("source", "")).startswith(("https://", "http://")):
                problems.append(f"{kind}: {label} has no source URL")
            if kind != "decisions" and fact.get("confirmed") is not True and not fact.get("note"):
                problems.append(f"{kind}: {label} is not confirmed and does not say where it was taken from")
            if kind == "decisions" and not fact.get("why"):
                problems.append(f"decisions: {label} does not say why")
    return problems


def check_register_urls(register: dict) -> list[str]:
    """Every statute (save a proposed one) and every provision has a legislation.gov.uk URL."""
    problems = []
    for sid, s in register["statutes"].items():
        if s["status"] != "proposed" and not str(s.get("url", "")).startswith("https://www.legislation.gov.uk/"):
            problems.append(f"{sid} has no legislation.gov.uk URL")
        for pid, prov in (s.get("provisions") or {}).items():
            if not str(prov.get("url", "")).startswith("https://www.legislation.gov.uk/"):
                problems.append(f"{sid} {pid} has no legislation.gov.uk URL")
    return problems


# ---- the tests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fact", FACTS["bodies"], ids=lambda f: f"{f['body']}-{f['event']}-{f['date']}")
def test_body(fact):
    assert check_body(policy(), fact) == []


@pytest.mark.parametrize("fact", FACTS["provisions"], ids=lambda f: f"{f['statute']}-{f['provision']}")
def test_provision(fact):
    assert check_provision(REGISTER, fact) == []


@pytest.mark.parametrize("fact", FACTS["decisions"], ids=lambda f: f["ask"])
def test_decision(fact):
    assert check_decision(policy(), fact) == []


def test_every_fact_has_a_source():
    assert check_sources(FACTS) == []


def test_every_statute_and_provision_has_a_legislation_url():
    assert check_register_urls(REGISTER) == []


# ---- the checks can fail ------------------------------------------------------------------------------------


def test_a_wrong_date_for_a_body_is_reported():
    fact = {"body": "HMCE", "event": "transferred", "date": "2005-05-01", "to": ["HMRC"]}
    assert any("should still exist" in p for p in check_body(policy(), fact))
    fact = {"body": "Becta", "event": "ceases", "date": "2011-04-01"}
    assert check_body(policy(), fact) == []
    assert check_body(policy(), {**fact, "event": "transferred", "to": ["DfE"]})  # it ceased: no transfer


def test_a_rename_read_as_a_new_body_is_reported():
    fact = {"body": "TTA", "event": "renamed", "date": "2005-09-01", "to": "TDA"}
    assert check_body(policy(), fact) == []
    bundle = _bundle_with("policies/organisations.policy", "renames TTA on 2005-09-01", "renames TTA on 2006-09-01")
    assert any("should be shown as TDA" in p for p in check_body(bundle, fact))


def test_a_wrong_commencement_is_reported():
    wrong = yaml.safe_load(yaml.safe_dump(REGISTER))
    wrong["statutes"]["TCA-2002"]["provisions"]["Schedule 5, paragraph 10"]["commenced"] = "2002-07-08"
    fact = next(f for f in FACTS["provisions"] if f["statute"] == "TCA-2002")
    assert any("commenced is 2002-07-08" in p for p in check_provision(wrong, fact))
    del wrong["statutes"]["ESA-2008"]["provisions"]["section 15"]
    fact = next(f for f in FACTS["provisions"] if f["provision"] == "section 15")
    assert check_provision(wrong, fact)


def test_a_wrong_answer_is_reported():
    fact = next(f for f in FACTS["decisions"] if f["ask"].startswith("InlandRevenue -> Connexions")
                and "2002" in f["ask"])
    assert check_decision(policy(), fact) == []
    assert check_decision(policy(), {**fact, "verdict": "allow"})
    assert check_decision(policy(), {**fact, "codes": {"TCA-2002-sch5-para10": "repealed"}})
    story = next(f for f in FACTS["decisions"] if f["ask"].startswith("JCP -> ALI provider-data") and "assuming"
                 not in f["ask"])
    assert check_decision(policy(), {**story, "not_because": ["DWP-ONE-WAY-2005"]})
    ilr = next(f for f in FACTS["decisions"] if f.get("regime", {}).get("id") == "DPA-1998")
    assert check_decision(policy(), ilr) == []
    assert check_decision(policy(), {**ilr, "power": "implied"})
    assert check_decision(policy(), {**ilr, "regime": {**ilr["regime"], "id": "UK-GDPR"}})
    assert check_decision(policy(), {**ilr, "regime": {**ilr["regime"], "special_category": "dpa1998-sch3-1"}})


def test_a_fact_without_a_source_is_reported():
    assert check_sources({"bodies": [{"body": "X", "event": "ceases", "date": "2000-01-01", "confirmed": False}]})
    assert check_register_urls({"statutes": {"X": {"status": "in-force", "commenced": "2000-01-01"}}})


def _bundle_with(path: str, old: str, new: str) -> engine.Policy:
    """The default bundle with one line of one file changed (loaded from text, nothing written)."""
    texts = {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8")
             for p in (ROOT / "policies").glob("*.policy")}
    assert old in texts[path]
    texts[path] = texts[path].replace(old, new)
    return engine.load_texts(texts, (ROOT / "gateways.yaml").read_text(encoding="utf-8"))
