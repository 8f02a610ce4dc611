"""Within one legal person (issue 12, part 4): the decision JSON, the CLI, `check --explain part-of`, flows,
the diff of a `part-of` change, and the decision against every basis when a body and its part are asked.
The decisions themselves are spec cases (tests/spec/decisions/same-body.yaml)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import yaml
from typer.testing import CliRunner

import engine
from cli import app
from conftest import MINI_REGISTER, ROOT, write_bundle
from engine.review.diff import brute_force, diff_policies

SPEC = yaml.safe_load((Path(__file__).parent / "spec" / "decisions" / "same-body.yaml").read_text("utf-8"))
SCHEMA = jsonschema.Draft202012Validator(json.loads((ROOT / "schemas" / "decision.schema.json").read_text("utf-8")))
D = dt.date(2005, 6, 23)


def policy(text: str | None = None) -> engine.Policy:
    return engine.load_texts({"policies/main.policy": text or SPEC["policy"]}, MINI_REGISTER)


def test_the_json_of_a_same_body_allow():
    d = policy().decide("JCP-North", "DWP", "claimant-record", "research", on=D)
    doc = d.to_dict()
    SCHEMA.validate(doc)
    assert doc["verdict"] == "allow" and doc["basis"] is None and doc["blocks"] == []
    assert doc["same_body"] == {"part": "JCP-North", "body": "DWP", "chain": ["JCP-North", "JCP", "DWP"]}
    # an allow needs a basis or a same body; a deny has neither
    assert list(SCHEMA.iter_errors({**doc, "same_body": None}))
    denied = policy().decide("JCP", "DWP", "medical-evidence", "research", on=D).to_dict()
    SCHEMA.validate(denied)
    assert denied["same_body"] is None and list(SCHEMA.iter_errors({**denied, "same_body": doc["same_body"]}))


def test_the_cli_and_explain_part_of(tmp_path):
    root = write_bundle(tmp_path / "b", {"main.policy": SPEC["policy"]})
    r = CliRunner().invoke(app, ["can-share", "JCP", "DWP", "claimant-record", "--purpose", "research",
                                 "--on", "2005-06-23", "--verbose", "--bundle", str(root)])
    assert r.exit_code == 0
    assert "same body JCP is part of DWP: not a disclosure between bodies" in r.output
    assert "restriction SSAA-1992-s123: it bars disclosures between bodies" in r.output
    r = CliRunner().invoke(app, ["check", "--explain", "part-of"])
    assert r.exit_code == 0 and "sponsored body" in r.output and "NOT part-of its sponsor" in r.output


def test_flows_show_a_body_and_its_parts_once_each_way():
    from engine.eval.reach import lawful_flows

    rows = [r for r in lawful_flows(policy(), on=D) if r.same_body]
    pairs = {(r.source, r.recipient, r.data, r.purpose) for r in rows}
    assert ("DWP", "JCP", "*", "*") in pairs and ("PensionService", "DWP", "*", "*") in pairs
    # a pair an explicit bar names (its scopes cover JCP's parts and DWP's) is decided flow by flow
    assert ("JCP", "DWP", "*", "*") not in pairs
    jcp_dwp = {(r.data, r.purpose) for r in rows if (r.source, r.recipient) == ("JCP", "DWP")}
    assert ("medical-evidence", "administration") in jcp_dwp and ("medical-evidence", "research") not in jcp_dwp
    assert not any(r.source == "JCP" and r.recipient == "PensionService" for r in rows)


def test_diff_sees_a_part_of_change_through_the_same_body_rule():
    new = policy()
    old = policy(SPEC["policy"].replace('organisation PensionService "The Pension Service" part-of DWP',
                                        'organisation PensionService "The Pension Service"'))
    result = diff_policies(old, new, D)
    assert [(c.kind, c.id) for c in result.changes] == [("organisation", "PensionService")]
    got = {(f.source, f.recipient, f.new) for f in result.flows}
    assert ("PensionService", "DWP", "allow") in got and ("DWP", "PensionService", "allow") in got
    assert all(f.because.startswith("within one body") for f in result.flows if f.new == "allow")
    assert len(result.flows) == len(brute_force(old, new, D))


# ---- routes through a body and its part (issue 12: never omitted silently) -------------------------------

ROUTES = yaml.safe_load((Path(__file__).parent / "spec" / "routes" / "same-body.yaml").read_text("utf-8"))


def route_policy() -> engine.Policy:
    return engine.load_texts({"policies/main.policy": ROUTES["policy"]}, MINI_REGISTER)


def test_a_route_s_hop_within_one_body_has_basis_same_body_and_validates():
    d = route_policy().decide("DWP", "LA", "d", "p", on=dt.date(2006, 1, 1))
    assert not d.allowed and [r.path for r in d.routes] == [("DWP", "JCP", "LA")]
    first, second = d.routes[0].hops
    assert (first.gateway, first.agreement, first.power, first.same_body) == ("same-body", None, None, ("JCP", "DWP"))
    assert (second.gateway, second.same_body, second.received_under) == ("JCP-LA", (), None)
    doc = d.to_dict()
    SCHEMA.validate(doc)
    assert doc["routes"][0]["hops"][0]["same_body"] == {"part": "JCP", "body": "DWP", "chain": ["JCP", "DWP"]}
    assert doc["routes"][0]["hops"][1]["same_body"] is None
    # a disclosure's hop never claims to be within one body, nor a hop within one body to have a gateway
    assert list(SCHEMA.iter_errors({**doc, "routes": [{**doc["routes"][0], "hops": [
        {**doc["routes"][0]["hops"][0], "power": "sideways"}, doc["routes"][0]["hops"][1]]}]}))


def test_the_cli_routes_of_a_body_and_its_part_say_same_body(tmp_path):
    root = write_bundle(tmp_path / "b", {"main.policy": ROUTES["policy"]})
    base = ["routes", "JCP", "DWP", "d", "--purpose", "p", "--on", "2006-01-01", "--bundle", str(root)]
    r = CliRunner().invoke(app, base)
    assert r.exit_code == 0, r.output
    assert "same body: JCP is part of DWP (not a disclosure between bodies: no route is needed)" in r.output
    r = CliRunner().invoke(app, base + ["--format", "json"])
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["routes"] == [] and doc["same_body"] == {"part": "JCP", "body": "DWP", "chain": ["JCP", "DWP"]}
    # two parts of one body are two bodies: no route, and nothing said of a same body
    r = CliRunner().invoke(app, ["routes", "JCP", "PS", "d", "--purpose", "p", "--on", "2006-01-01", "--format", "json",
                                 "--bundle", str(root)])
    assert r.exit_code == 1 and json.loads(r.stdout)["same_body"] is None
    r = CliRunner().invoke(app, ["routes", "DWP", "LA", "d", "--purpose", "p", "--on", "2006-01-01",
                                 "--bundle", str(root)])
    assert r.exit_code == 0
    assert "DWP → JCP: d for p within one body (JCP is part of DWP): not a disclosure" in r.output
    assert "JCP → LA: d for p under JCP-LA" in r.output


def test_the_service_routes_of_a_body_and_its_part_say_same_body(tmp_path):
    from fastapi.testclient import TestClient

    from engine.ops.service import BundleHolder, create_app

    root = write_bundle(tmp_path / "b", {"main.policy": ROUTES["policy"]})
    client = TestClient(create_app(BundleHolder(root)))
    ask = {"data": "d", "purpose": "p", "on": "2006-01-01"}
    r = client.post("/v1/routes", json={"source": "JCP", "recipient": "DWP", **ask})
    assert r.status_code == 200, r.text
    assert r.json()["routes"] == [] and r.json()["same_body"]["chain"] == ["JCP", "DWP"]
    r = client.post("/v1/routes", json={"source": "DWP", "recipient": "LA", **ask})
    assert r.json()["same_body"] is None
    assert [h["gateway"] for h in r.json()["routes"][0]["hops"]] == ["same-body", "JCP-LA"]


def test_blocked_lists_an_internal_flow_an_explicit_forbids_bars(tmp_path):
    from engine.eval.reach import blocked_flows

    rows = [r for r in blocked_flows(policy(), on=D) if r.same_body]
    assert {(r.source, r.recipient, r.data, r.purpose, r.restrictions) for r in rows} >= {
        ("JCP", "DWP", "medical-evidence", "research", ("R-INTERNAL",))}
    assert all(r.gateway == "same-body" and r.to_dict()["same_body"] for r in rows)
    root = write_bundle(tmp_path / "b", {"main.policy": SPEC["policy"]})
    r = CliRunner().invoke(app, ["blocked", "--on", "2005-06-23", "--bundle", str(root)])
    assert "within one body: not a disclosure between bodies, but a restriction names it" in r.output


def test_explain_says_a_sponsored_body_is_not_part_of_its_sponsor():
    for code in ("part-of", "same-body", "within-body"):
        r = CliRunner().invoke(app, ["check", "--explain", code])
        assert r.exit_code == 0 and "sponsored body" in r.output and "NOT part-of its sponsor" in r.output, code
