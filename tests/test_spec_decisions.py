"""Decision spec cases as data: YAML files under tests/spec/decisions/, one topic per file.

A file holds a small bundle and the questions asked of it:

    description: what the file pins down
    register: |            # gateways.yaml text (default: the mini register of conftest.py)
    policy: |              # policies/main.policy, or `policies:` (file name -> text), or `bundle: default`
    cases:
      - name: a short sentence
        ask: JCP -> ALI provider-data for inspection on 2005-06-23 assuming DCA-GATEWAY-2006
             # then optionally: given C1, C2 · received-under G · own-data · held-for F · express-only
        verdict: deny                 # allow | deny
        because: [SSAA-1992-s123]     # each id is among Decision.reason_ids()
        not_because: [X]              # none of these is
        headline: one-way legislative block      # substring of the headline
        same_body: [JCP, DWP]         # allowed within one legal person: the part-of chain (false: not so)
        basis: {gateway: G, agreement: A}        # the basis relied on (agreement may be null; optional
                                                 # lawful_basis, article_9, article_10, onward)
        blocks: [R]                   # exactly the restrictions that caught the flow
        blocks_at: {R: 12}            # the line of the clause that caught it (`one-way` / `forbids`)
        lifted: [R]                   # the blocks lifted by the basis's `overrides`
        one_way: [R]                  # blocks reported as one-way legislative blocks
        considered:                   # each of these entries is among `considered` (reason: substring)
          - {id: G, code: not-in-force, reason: "not in force until 2009-01-26", line: 12}
        conditions: ["pseudonymised"] # substrings, one per condition, in order
        fixes: [assume-statute]       # these fix kinds are offered (each is verified below)
        fix_words: ["Ask the owner"]  # each is a substring of some fix's words (its `description`)
        no_fixes: true                # no fix at all is offered
        raises: {kind: organisation, name: ALJ, suggestions: [ALI]}   # UnknownNameError instead
        relied_on: [C]                # exactly the conditions the ALLOW rests on (ids)
        missing: [C]                  # exactly the conditions not given on a DENY (ids)
        power: implied                # Decision.power (express | implied | null)
        provenance: "own data"        # substring of the provenance the decision assumed
        readings: {R: [G, F]}         # the gateways / functions under which a provenance-bound block binds
        regime: {id: R, lawful_basis: [recorded, shown id]}   # the regime of the date (or null), the basis in it

(`ask` is one line because YAML reads a bare `on:` key as a boolean.)

Every case also checks `Policy.allowed` against `decide`, and every fix offered is verified independently:
the change is written as policy text (a new or renewed agreement) or applied to the question (an assumed
statute, a later date, the successor, a narrower category, another purpose), the bundle reloaded from text,
and the flow decided again — it must be allowed.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

import engine
from conftest import MINI_REGISTER, ROOT

SPEC = Path(__file__).parent / "spec" / "decisions"
FILES = sorted(SPEC.glob("*.yaml"))

_ASK = re.compile(
    r"^\s*(?P<source>\S+)\s*->\s*(?P<recipient>\S+)\s+(?P<data>\S+)(?:\s+for\s+(?P<purpose>\S+))?"
    r"(?:\s+on\s+(?P<on>\d{4}-\d{2}-\d{2}))?(?:\s+assuming\s+(?P<assume>\S+(?:\s*,\s*\S+)*))?"
    r"(?:\s+given\s+(?P<given>\S+(?:\s*,\s*\S+)*))?(?:\s+received-under\s+(?P<received_under>\S+))?"
    r"(?:\s+(?P<own_data>own-data))?(?:\s+held-for\s+(?P<held_for>\S+))?(?:\s+(?P<express_only>express-only))?\s*$")


def parse_ask(text: str) -> dict:
    m = _ASK.match(text)
    assert m, f"cannot read the question `{text}`"
    q = m.groupdict()
    q["on"] = dt.date.fromisoformat(q["on"]) if q["on"] else dt.date(2005, 6, 23)
    q["assume"] = [s.strip() for s in q["assume"].split(",")] if q["assume"] else []
    q["given"] = [s.strip() for s in q["given"].split(",")] if q["given"] else []
    q["express_only"] = bool(q["express_only"])
    q["own_data"] = bool(q["own_data"])
    return q


@lru_cache(maxsize=None)
def _spec(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def bundle_texts(spec: dict) -> tuple[dict[str, str], str]:
    if spec.get("bundle") == "default":
        policies = {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8")
                    for p in sorted((ROOT / "policies").rglob("*.policy"))}
        return policies, (ROOT / "gateways.yaml").read_text(encoding="utf-8")
    policies = spec.get("policies") or {"main.policy": spec["policy"]}
    return {f"policies/{k}": v for k, v in policies.items()}, spec.get("register", MINI_REGISTER)


@lru_cache(maxsize=None)
def _policy(path: Path) -> engine.Policy:
    policies, register = bundle_texts(_spec(path))
    return engine.load_texts(policies, register)


def _cases():
    out = []
    for f in FILES:
        for i, case in enumerate(_spec(f)["cases"]):
            out.append(pytest.param(f, i, id=f"{f.stem}::{case.get('name', i)}"))
    return out


CASES = _cases()


def _extra(q: dict) -> dict:
    return {"given": q.get("given", []), "express_only": q.get("express_only", False),
            "received_under": q.get("received_under"), "own_data": q.get("own_data", False),
            "held_for": q.get("held_for")}


def _decide(policy: engine.Policy, q: dict) -> engine.Decision:
    return policy.decide(q["source"], q["recipient"], q["data"], q["purpose"], on=q["on"], assume=q["assume"],
                         **_extra(q))


@pytest.mark.parametrize("path,index", CASES)
def test_decision_case(path: Path, index: int):
    case = _spec(path)["cases"][index]
    policy = _policy(path)
    q = parse_ask(case["ask"])
    if "raises" in case:
        want = case["raises"]
        with pytest.raises(engine.UnknownNameError) as info:
            _decide(policy, q)
        assert info.value.kind == want["kind"] and info.value.name == want["name"]
        assert list(info.value.suggestions)[: len(want.get("suggestions", []))] == want.get("suggestions", []), \
            info.value.suggestions
        assert "did you mean" in str(info.value) or not want.get("suggestions")
        return
    assert q["purpose"], "a case asks for one purpose"
    d = _decide(policy, q)
    shown = (f"\n{d.headline}\nreasons: {sorted(d.reason_ids())}"
             f"\nconsidered: {[(c.id, c.code, c.reason) for c in d.considered]}")
    assert d.verdict == case["verdict"], shown
    assert policy.allowed(q["source"], q["recipient"], q["data"], q["purpose"], on=q["on"], assume=q["assume"],
                          **_extra(q)) == d.allowed
    ids = d.reason_ids()
    for rid in case.get("because", []):
        assert rid.lower() in ids, f"`{rid}` not among the reasons{shown}"
    for rid in case.get("not_because", []):
        assert rid.lower() not in ids, f"`{rid}` should not be a reason{shown}"
    if "headline" in case:
        assert case["headline"] in d.headline, shown
    if d.allowed:
        assert (d.basis is not None) != bool(d.same_body) and not d.fixes
        assert d.headline.startswith("ALLOWED — ")
    else:
        assert d.basis is None and d.headline.startswith("DENIED — ")
    if "same_body" in case:  # the part-of chain of an allow within one legal person, or false
        assert (list(d.same_body) or False) == case["same_body"], shown
    if "basis" in case:
        want = case["basis"]
        assert d.basis.gateway.id == want["gateway"], shown
        got_agreement = d.basis.agreement.id if d.basis.agreement else None
        assert got_agreement == want.get("agreement"), shown
        for key in ("lawful_basis", "article_9", "article_10", "onward"):
            if key in want:
                assert getattr(d.basis, key) == want[key], (key, getattr(d.basis, key))
    if "blocks" in case:
        assert sorted(b.restriction.id for b in d.blocks) == sorted(case["blocks"]), shown
        for b in d.blocks:
            assert b.span is not None and b.span.line > 0, "a block points at its clause"
    for rid, line in (case.get("blocks_at") or {}).items():
        b = next(b for b in d.blocks if b.restriction.id == rid)
        assert b.span.line == line, f"block {rid} points at {b.span}, not line {line}"
    if "lifted" in case:
        assert sorted(b.restriction.id for b in d.blocks if b.overridden_by) == sorted(case["lifted"]), shown
    if "one_way" in case:
        assert sorted(b.restriction.id for b in d.blocks if b.one_way) == sorted(case["one_way"]), shown
    for want in case.get("considered", []):
        hits = [c for c in d.considered if c.id == want["id"] and c.code == want.get("code", c.code)
                and want.get("reason", "") in c.reason]
        assert hits, f"no consideration like {want}{shown}"
        if "line" in want:
            assert any(c.span is not None and c.span.line == want["line"] for c in hits), \
                f"{want} points at {[str(c.span) for c in hits]}"
    if "conditions" in case:
        assert len(d.conditions) == len(case["conditions"]), d.conditions
        for got, want in zip(d.conditions, case["conditions"]):
            assert want in got.text
    if "relied_on" in case:
        assert [c.id for c in d.conditions_relied_on] == case["relied_on"], d.conditions_relied_on
    if "missing" in case:
        assert sorted({c.id for c in d.conditions_missing}) == sorted(case["missing"]), d.conditions_missing
    if "power" in case:
        assert d.power == case["power"], shown
    if "provenance" in case:
        assert case["provenance"] in d.provenance, d.provenance
    if "regime" in case:
        want, got = case["regime"], d.regime
        if want is None:
            assert got is None, got
        else:
            assert got is not None and got.id == want["id"], got
            for key in ("lawful_basis", "special_category"):
                if key in want:
                    assert list(getattr(got, key)[:2]) == want[key], getattr(got, key)
    for rid, names in (case.get("readings") or {}).items():
        b = next(b for b in d.blocks if b.restriction.id == rid)
        assert list(b.received_under + b.held_for) == names, (b.received_under, b.held_for)
    kinds = [f.kind for f in d.fixes]
    for kind in case.get("fixes", []):
        assert kind in kinds, f"no `{kind}` fix among {[f.description for f in d.fixes]}{shown}"
    for want in case.get("fix_words", []):
        assert any(want in f.description for f in d.fixes), f"no fix says {want!r}: {[f.description for f in d.fixes]}"
    if case.get("no_fixes"):
        assert not d.fixes, [f.description for f in d.fixes]
    for fix in d.fixes:
        verify_fix(path, policy, q, fix)


# ---- independent verification of fixes -----------------------------------------------------------------


def _agreement_text(ident: str, source: str, recipient: str, data: str, purpose: str, gateway: str,
                    sensitivity, start: dt.date) -> str:
    lines = [f'agreement {ident} "verification of a fix" {{', f"  from {source} to {recipient}", f"  data {data}",
             f"  for {purpose}", f"  under {gateway}", "  lawful-basis public-task"]
    if "special-category" in sensitivity:
        lines.append('  article-9 "DPA 2018 Sch 1 para 6"')
    if "criminal-offence" in sensitivity:
        lines.append('  article-10 "DPA 2018 Sch 1 para 6"')
    lines += [f"  valid from {start.isoformat()}", '  owner "tests"', "}"]
    return "\n".join(lines) + "\n"


def _renewed_text(policy: engine.Policy, agreement_id: str, on: dt.date) -> str:
    a = policy.agreements[agreement_id.lower()].model
    lines = [f'agreement {a.id.text}-RENEWED "renewal" {{']
    if a.both_ways:
        lines.append(f"  between {a.sources[0].text} and {a.recipients[0].text}")
    else:
        lines.append(f"  from {', '.join(n.text for n in a.sources)} to {', '.join(n.text for n in a.recipients)}")
    lines += [f"  data {', '.join(n.text for n in a.data)}", f"  for {', '.join(n.text for n in a.purposes)}",
              f"  under {a.under.text}"]
    if a.lawful_basis:
        lines.append(f"  lawful-basis {a.lawful_basis.text}")
    if a.article9:
        lines.append(f'  article-9 "{a.article9}"')
    if a.article10:
        lines.append(f'  article-10 "{a.article10}"')
    start = a.valid.start if a.valid and a.valid.start and a.valid.start <= on else on
    lines += [f"  valid from {start.isoformat()}", '  owner "tests"', "}"]
    return "\n".join(lines) + "\n"


def _extended_text(policy: engine.Policy, agreement_id: str, add_data, add_purpose) -> str:
    """The agreement as written, with the data and purpose the fix adds (its own window, basis and owner)."""
    a = policy.agreements[agreement_id.lower()].model
    data = [n.text for n in a.data] + ([add_data] if add_data else [])
    purposes = [n.text for n in a.purposes] + ([add_purpose] if add_purpose else [])
    lines = [f'agreement {a.id.text}-EXTENDED "extension" {{']
    if a.both_ways:
        lines.append(f"  between {a.sources[0].text} and {a.recipients[0].text}")
    else:
        lines.append(f"  from {', '.join(n.text for n in a.sources)} to {', '.join(n.text for n in a.recipients)}")
    lines += [f"  data {', '.join(data)}", f"  for {', '.join(purposes)}", f"  under {a.under.text}"]
    if a.lawful_basis:
        lines.append(f"  lawful-basis {a.lawful_basis.text}")
    if a.article9:
        lines.append(f'  article-9 "{a.article9}"')
    if a.article10:
        lines.append(f'  article-10 "{a.article10}"')
    if a.valid and (a.valid.start or a.valid.end):
        start, end = a.valid.start, a.valid.end
        lines.append(f"  valid {start.isoformat()} to {end.isoformat()}" if start and end
                     else f"  valid from {start.isoformat()}" if start else f"  valid until {end.isoformat()}")
    lines += ['  owner "tests"', "}"]
    return "\n".join(lines) + "\n"


def verify_fix(path: Path, policy: engine.Policy, q: dict, fix) -> None:
    q = dict(q)
    extra = ""
    d0 = _decide(policy, q)
    sensitivity = d0.sensitivity
    source, recipient, data, purpose = d0.source, d0.recipient, d0.data, d0.purpose
    if fix.kind == "renew-agreement":
        extra = _renewed_text(policy, fix.agreement, q["on"])
    elif fix.kind == "new-agreement":
        extra = _agreement_text("FIX-NEW", source, recipient, data, purpose, fix.gateway, sensitivity, q["on"])
    elif fix.kind == "extend-agreement":
        extra = _extended_text(policy, fix.agreement, fix.args.get("add_data"), fix.args.get("add_purpose"))
    elif fix.kind == "assume-statute":
        q["assume"] = q["assume"] + [fix.statute]
        if fix.args.get("with_agreement"):
            extra = _agreement_text("FIX-NEW", source, recipient, data, purpose, fix.gateway, sensitivity, q["on"])
    elif fix.kind == "later-date":
        assert fix.on is not None and fix.on > q["on"]
        q["on"] = fix.on
        if fix.args.get("with_agreement"):
            extra = _agreement_text("FIX-NEW", source, recipient, data, purpose, fix.gateway, sensitivity, fix.on)
    elif fix.kind == "successor":
        for side in ("source", "recipient"):
            key = policy.org_key(q[side])
            end = policy.org_end.get(key)
            if end is not None and policy.org_name(end[1]) == fix.organisation:
                q[side] = fix.organisation
    elif fix.kind == "narrower-data":
        q["data"] = fix.data
    elif fix.kind == "other-purpose":
        q["purpose"] = fix.purpose
    elif fix.kind == "state-provenance":
        for key in ("received_under", "own_data", "held_for"):
            if key in fix.args:
                q[key] = fix.args[key]
    elif fix.kind == "given-conditions":
        q["given"] = list(q.get("given", [])) + list(fix.args["conditions"])
    else:
        pytest.fail(f"unknown fix kind {fix.kind}")
    policies, register = bundle_texts(_spec(path))
    if extra:
        policies = {**policies, "policies/zz-fix.policy": extra}
    changed = engine.load_texts(policies, register)
    d = _decide(changed, q)
    assert d.allowed, f"fix `{fix.description}` does not make the flow lawful: {d.headline}"


def test_every_rule_has_spec_cases():
    topics = {f.stem for f in FILES}
    needed = {"scopes", "restrictions", "exceptions", "dates", "statutes", "organisations", "sensitivity",
              "conditions", "fixes", "unknown-names", "basis-choice", "story"}
    assert needed <= topics, sorted(needed - topics)
