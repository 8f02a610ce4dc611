"""The published Decision JSON Schema (schemas/decision.schema.json, draft 2020-12) describes exactly what
`Decision.to_dict()` and `can-share --format json` produce."""

from __future__ import annotations

import datetime as dt
import json
import random

import jsonschema
import pytest
from typer.testing import CliRunner

import cli
from conftest import ROOT

SCHEMA = json.loads((ROOT / "schemas" / "decision.schema.json").read_text(encoding="utf-8"))
Validator = jsonschema.Draft202012Validator
VALIDATOR = Validator(SCHEMA, format_checker=Validator.FORMAT_CHECKER)


def _errors(doc) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(doc)]


def test_schema_is_a_valid_draft_2020_12_schema():
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Validator.check_schema(SCHEMA)


def _sample(policy, n: int, seed: int = 2005):
    rnd = random.Random(seed)
    orgs = sorted(o.id.text for o in policy.orgs.values())
    data = sorted(d.id.text for d in policy.data.values())
    purposes = sorted(p.id.text for p in policy.purposes.values())
    statutes = sorted(s.id for s in policy.statutes.values())
    days = [dt.date(y, m, d) for y, m, d in ((2004, 6, 1), (2005, 6, 23), (2006, 1, 1), (2007, 7, 1),
                                             (2009, 6, 1), (2019, 6, 1))]
    for _ in range(n):
        assume = [rnd.choice(statutes)] if rnd.random() < 0.2 else []
        yield (rnd.choice(orgs), rnd.choice(orgs), rnd.choice(data), rnd.choice(purposes), rnd.choice(days), assume)


STORY = [
    ("JCP", "ALI", "provider-data", "inspection", dt.date(2005, 6, 23), []),
    ("JCP", "ALI", "provider-data", "inspection", dt.date(2005, 6, 23), ["DCA-GATEWAY-2006"]),
    ("LSC", "ALI", "provider-data", "inspection", dt.date(2005, 6, 23), []),
    ("DfES", "ALI", "provider-data", "inspection", dt.date(2005, 7, 1), []),
    ("LSC", "DfES", "individualised-learner-record", "research", dt.date(2005, 7, 1), []),
    ("DWP", "LEA-Leeds", "claimant-contact-details", "participation-tracking", dt.date(2005, 6, 23), []),
    ("InlandRevenue", "LSC", "provider-data", "research", dt.date(2005, 6, 23), []),
    ("DfES", "TDA", "individual-pupil-information", "planning", dt.date(2006, 1, 1), []),
]


def test_to_dict_validates_for_many_decisions(default_policy):
    seen = {"allow": 0, "deny": 0, "fixes": 0, "routes": 0, "conditions": 0, "blocks": 0, "considered": 0,
            "basis": 0}
    for q in STORY + list(_sample(default_policy, 1500)):
        src, dst, data, purpose, on, assume = q
        doc = default_policy.decide(src, dst, data, purpose, on=on, assume=assume).to_dict()
        errors = _errors(doc)
        assert not errors, (q, errors)
        seen[doc["verdict"]] += 1
        for key in ("fixes", "routes", "conditions", "blocks", "considered"):
            seen[key] += bool(doc[key])
        seen["basis"] += doc["basis"] is not None
    # the sample exercises every part of the shape
    assert all(seen.values()), seen


def test_every_key_of_to_dict_is_in_the_schema(default_policy):
    d = default_policy.decide("JCP", "ALI", "provider-data", "inspection", on=dt.date(2005, 6, 23))
    assert set(d.to_dict()) == set(SCHEMA["properties"]) == set(SCHEMA["required"])


def test_schema_rejects_what_it_should(default_policy):
    doc = default_policy.decide("LSC", "ALI", "provider-data", "inspection", on=dt.date(2005, 6, 23)).to_dict()
    assert not _errors(doc)
    for broken in (
        {**doc, "verdict": "maybe"},
        {**doc, "extra": 1},
        {**doc, "basis": None},  # an allow always has a basis
        {**doc, "question": {**doc["question"], "on": "2005-02-30"}},
        {k: v for k, v in doc.items() if k != "headline"},
    ):
        assert _errors(broken), broken


ARGS = [
    ["JCP", "ALI", "provider-data", "--purpose", "inspection", "--on", "2005-06-23"],
    ["JCP", "ALI", "provider-data", "--purpose", "inspection", "--on", "2005-06-23", "--assume", "DCA-GATEWAY-2006"],
    ["LSC", "ALI", "provider-data", "--purpose", "inspection", "--on", "2005-06-23"],
    ["JCP", "ALI", "provider-data", "--on", "2005-06-23"],
    ["DfES", "ALI", "provider-data", "--on", "2005-07-01"],
    ["dwp", "lea-leeds", "claimant-contact-details", "--purpose", "participation-tracking", "--on", "2005-06-23"],
    ["Ofsted", "DfES", "inspection-reports", "--on", "2005-07-01"],
]


@pytest.mark.parametrize("args", ARGS, ids=[" ".join(a[:4]) for a in ARGS])
def test_cli_json_validates(args):
    r = CliRunner().invoke(cli.app, ["can-share", *args, "--format", "json", "--bundle", str(ROOT)])
    assert r.exit_code in (0, 1), r.output
    doc = json.loads(r.stdout)
    assert set(doc) == {"decisions"} and doc["decisions"]
    for d in doc["decisions"]:
        assert not _errors(d), _errors(d)
    assert r.exit_code == (0 if all(d["verdict"] == "allow" for d in doc["decisions"]) else 1)


def test_citations_link_to_the_provision_on_legislation_gov_uk():
    """A reason cites the provision's own page where the register gives the Act's page."""
    import datetime as dt

    import engine
    from engine.syntax.model import provision_url

    assert provision_url("https://www.legislation.gov.uk/ukpga/1992/5", "section 123") == \
        "https://www.legislation.gov.uk/ukpga/1992/5/section/123"
    assert provision_url("https://www.legislation.gov.uk/ukpga/2002/21", "Schedule 5, paragraph 10") == \
        "https://www.legislation.gov.uk/ukpga/2002/21/schedule/5/paragraph/10"
    assert provision_url("https://www.legislation.gov.uk/ukpga/2000/21", "Parts I and III (implied power)") == \
        "https://www.legislation.gov.uk/ukpga/2000/21"
    assert provision_url(None, "section 1") is None
    d = engine.load().decide("JCP", "ALI", "claimant-record", "inspection", on=dt.date(2005, 6, 23))
    urls = {b.restriction.id: b.restriction.url for b in d.blocks}
    assert urls["SSAA-1992-s123"] == "https://www.legislation.gov.uk/ukpga/1992/5/section/123"
    # the 2005 one-way position cites the Act's information Part, and links to its page in the register
    assert urls["DWP-ONE-WAY-2005"] == "https://www.legislation.gov.uk/ukpga/1992/5/part/VII"
