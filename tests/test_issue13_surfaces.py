"""Issue 13 through every surface: the CLI (`can-share --given/--express-only`, exit codes, text and JSON),
the service, the decision log, `fmt`, `diff`, `lint` (`implied-power`), and the diagnostics of conditions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import engine
from cli import app
from conftest import write_bundle
from engine.review.diff import diff_policies
from engine.review.fmt import format_text
from engine.review.lint import lint

runner = CliRunner()
SPEC = Path(__file__).parent / "spec" / "decisions"
D = dt.date(2005, 6, 23)


def spec_policy(name: str) -> str:
    return yaml.safe_load((SPEC / name).read_text(encoding="utf-8"))["policy"]


@pytest.fixture
def conditions_bundle(tmp_path: Path) -> Path:
    return write_bundle(tmp_path / "c", {"main.policy": spec_policy("declared-conditions.yaml")})


@pytest.fixture
def power_bundle(tmp_path: Path) -> Path:
    return write_bundle(tmp_path / "p", {"main.policy": spec_policy("power.yaml")})


def ask(bundle: Path, *args: str):
    return runner.invoke(app, ["can-share", *args, "--on", "2005-06-23", "--bundle", str(bundle)])


# ---- the CLI ------------------------------------------------------------------------------------------


def test_a_missing_condition_denies_with_the_flag_that_would_give_it(conditions_bundle):
    r = ask(conditions_bundle, "DWP", "Court", "benefit-record", "--purpose", "litigation")
    assert r.exit_code == 1, r.output
    assert "DENIED — lawful only if this is established: An order of the court (court-order)" in r.output
    assert ("what would make it lawful:\n  - Lawful once this is established: An order of the court (court-order) "
            "(ask again with --given court-order)") in r.output
    assert "conditions not given:\n  - An order of the court (court-order), for gateway COURT" in r.output


def test_given_allows_and_the_answer_lists_what_it_relied_on(conditions_bundle):
    r = ask(conditions_bundle, "HMRC", "Court", "tax-information", "--purpose", "litigation", "--given", "court-order")
    assert r.exit_code == 0, r.output
    assert "given court-order" in r.output
    assert "conditions relied on (given):" in r.output
    assert "An order of the court (court-order), for gateway COURT" in r.output
    assert "An order of the court (court-order), for restriction CRCA-s18" in r.output
    j = ask(conditions_bundle, "HMRC", "Court", "tax-information", "--purpose", "litigation", "--given",
            "court-order", "--format", "json")
    d = json.loads(j.output)["decisions"][0]
    assert d["question"]["given"] == ["court-order"] and d["power"] == "express"
    assert [(c["id"], c["kind"], c["rule"]) for c in d["conditions_relied_on"]] == [
        ("court-order", "gateway", "COURT"), ("court-order", "restriction", "CRCA-s18")]


def test_an_unknown_given_is_an_error_with_suggestions(conditions_bundle):
    r = ask(conditions_bundle, "DWP", "Court", "benefit-record", "--purpose", "litigation", "--given", "court-ordr")
    assert r.exit_code == 2
    assert "unknown condition `court-ordr`" in r.output and "court-order" in r.output
    assert "Traceback" not in r.output


def test_implied_power_headline_and_express_only(power_bundle):
    r = ask(power_bundle, "LSC", "DfES", "provider-data", "--purpose", "planning")
    assert r.exit_code == 0
    assert r.output.startswith("ALLOWED — on an implied power: take legal advice — under gateway COMMON-LAW")
    assert "power: implied" in r.output
    r = ask(power_bundle, "LSC", "DfES", "provider-data", "--purpose", "planning", "--express-only")
    assert r.exit_code == 1 and "express powers only" in r.output
    j = json.loads(ask(power_bundle, "LSC", "DfES", "provider-data", "--purpose", "planning", "--format",
                       "json").output)["decisions"][0]
    assert j["power"] == "implied" and j["question"]["express_only"] is False


def test_the_decision_log_records_what_an_allow_relied_on(conditions_bundle, tmp_path):
    log = tmp_path / "decisions.log"
    r = ask(conditions_bundle, "HMRC", "DWP", "tax-information", "--purpose", "fraud-prevention", "--given",
            "commissioners-authority", "--audit-log", str(log))
    assert r.exit_code == 0, r.output
    rec = json.loads(log.read_text().splitlines()[-1])
    assert rec["given"] == ["commissioners-authority"]
    assert rec["conditions_relied_on"] == [{"id": "commissioners-authority", "kind": "restriction", "rule": "CRCA-s18"}]
    assert engine.verify_log(log).ok
    r = ask(conditions_bundle, "DWP", "LA", "benefit-record", "--purpose", "fraud-prevention", "--audit-log", str(log))
    plain = json.loads(log.read_text().splitlines()[-1])
    assert "given" not in plain and "conditions_relied_on" not in plain  # ordinary records keep their shape


# ---- the service --------------------------------------------------------------------------------------


def test_the_service_takes_given_and_express_only(conditions_bundle, power_bundle):
    from fastapi.testclient import TestClient

    from engine.ops.service import BundleHolder, create_app

    c = TestClient(create_app(BundleHolder(conditions_bundle)))
    q = {"source": "DWP", "recipient": "Court", "data": "benefit-record", "purpose": "litigation", "on": "2005-06-23"}
    d = c.post("/v1/decide", json=q).json()["decisions"][0]
    assert d["verdict"] == "deny" and [x["id"] for x in d["conditions_missing"]] == ["court-order"]
    d = c.post("/v1/decide", json={**q, "given": ["court-order"]}).json()["decisions"][0]
    assert d["verdict"] == "allow" and [x["id"] for x in d["conditions_relied_on"]] == ["court-order"]
    bad = c.post("/v1/decide", json={**q, "given": ["nope"]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["kind"] == "condition"
    p = TestClient(create_app(BundleHolder(power_bundle)))
    q = {"source": "LSC", "recipient": "DfES", "data": "provider-data", "purpose": "planning", "on": "2005-06-23"}
    assert p.post("/v1/decide", json=q).json()["decisions"][0]["power"] == "implied"
    assert p.post("/v1/decide", json={**q, "express_only": True}).json()["decisions"][0]["verdict"] == "deny"


# ---- fmt, diff, lint ----------------------------------------------------------------------------------


def test_fmt_keeps_conditions_power_and_when():
    text = spec_policy("declared-conditions.yaml")
    once = format_text(text)
    assert format_text(once) == once
    assert "except to DWP for fraud-prevention when commissioners-authority" in once
    assert "  requires court-order\n" in once
    messy = ('gateway G "g" {\n  requires a,b\n  for p\n  data d\n  allows A -> B\n  power implied\n'
             '  statute S "s1"\n}\n')
    assert format_text(messy) == ('gateway G "g" {\n  statute S "s1"\n  power implied\n  allows A -> B\n  data d\n'
                                  "  for p\n  requires a, b\n}\n")


def test_diff_reports_flows_a_new_condition_or_power_takes_away(tmp_path):
    text = spec_policy("power.yaml")
    old = engine.load(write_bundle(tmp_path / "old", {"main.policy": text}))
    needs = text.replace("  power implied\n", "  power implied\n  requires court-order\n") + \
        'condition court-order "An order of the court"\n'
    new = engine.load(write_bundle(tmp_path / "new", {"main.policy": needs}))
    result = diff_policies(old, new, D)
    assert any(c.id == "COMMON-LAW" and "conditions" in c.details for c in result.changes)
    lost = {(f.source, f.recipient, f.purpose) for f in result.flows if not f.newly_allowed}
    assert ("LSC", "DfES", "planning") in lost
    assert ("LSC", "ALI", "inspection") not in lost  # the express gateway still allows it


def test_lint_lists_allows_resting_only_on_an_implied_power(power_bundle):
    diags = [d for d in lint(engine.load(power_bundle), D) if d.code == "implied-power"]
    assert len(diags) == 1 and diags[0].severity.value == "info"
    message = diags[0].message
    assert "gateway `COMMON-LAW`" in message and "LSC -> DfES provider-data for planning" in message
    assert "LSC -> ALI provider-data for inspection" not in message  # the express gateway covers it
    assert "LSC -> ALI provider-data for planning" in message


def test_unknown_condition_in_the_bundle_is_a_located_diagnostic(tmp_path):
    text = spec_policy("declared-conditions.yaml").replace("requires court-order", "requires court-ordr")
    r = runner.invoke(app, ["check", "--bundle", str(write_bundle(tmp_path / "b", {"main.policy": text}))])
    assert r.exit_code == 1  # findings at the fail level (error)
    assert "error[unknown-name]: unknown condition `court-ordr`" in r.output
    assert "did you mean `court-order`?" in r.output


def test_a_condition_declared_twice_is_a_duplicate(tmp_path):
    text = spec_policy("declared-conditions.yaml") + 'condition Court-Order "again"\n'
    r = runner.invoke(app, ["check", "--bundle", str(write_bundle(tmp_path / "b", {"main.policy": text}))])
    assert r.exit_code == 1 and "condition `Court-Order` is declared twice" in r.output


# ---- provenance ---------------------------------------------------------------------------------------


@pytest.fixture
def provenance_bundle(tmp_path: Path) -> Path:
    spec = yaml.safe_load((SPEC / "provenance.yaml").read_text(encoding="utf-8"))
    return write_bundle(tmp_path / "v", {"main.policy": spec["policy"]}, spec["register"])


def ask18(bundle: Path, *args: str):
    return runner.invoke(app, ["can-share", *args, "--on", "2018-01-01", "--bundle", str(bundle)])


def test_provenance_from_the_cli_text_and_json(provenance_bundle):
    r = ask18(provenance_bundle, "DWP", "LA", "debt-data", "-p", "fraud-prevention")
    assert r.exit_code == 1
    assert r.output.startswith("DENIED — if DWP received it under DEA-s48: legislative block")
    assert "where the data came from: not said, so every way DWP could have come to hold the data counts" in r.output
    assert "it is lawful if it is DWP's own data (ask again with --own-data)" in r.output
    assert ask18(provenance_bundle, "DWP", "LA", "debt-data", "-p", "fraud-prevention", "--own-data").exit_code == 0
    j = json.loads(ask18(provenance_bundle, "DWP", "LA", "debt-data", "-p", "fraud-prevention", "--received-under",
                         "dea-S48", "--format", "json").output)["decisions"][0]
    assert j["question"]["received_under"] == "DEA-s48" and j["provenance"]["stated"] is True
    assert j["blocks"][0]["provenance"] == {"received_under": ["DEA-s48"], "held_for": []}
    assert any(c["why"] == "received-onward" for c in j["considered"])
    r = ask18(provenance_bundle, "JCP", "LSC", "claimant-data", "-p", "employment-support", "--held-for",
              "employment-services")
    assert r.exit_code == 0, r.output


def test_provenance_errors_are_clear(provenance_bundle):
    r = ask18(provenance_bundle, "DWP", "LA", "debt-data", "-p", "fraud-prevention", "--received-under", "DEA-s84")
    assert r.exit_code == 2 and "unknown gateway `DEA-s84`" in r.output and "DEA-s48" in r.output
    r = ask18(provenance_bundle, "DWP", "LA", "debt-data", "-p", "fraud-prevention", "--received-under", "DEA-s48",
              "--own-data")
    assert r.exit_code == 2 and "bad-usage" in r.output
    r = ask18(provenance_bundle, "JCP", "LSC", "claimant-data", "-p", "employment-support", "--held-for", "revenue")
    assert r.exit_code == 2 and "unknown function of `JCP` `revenue`" in r.output and "Traceback" not in r.output


def test_provenance_in_the_service_and_the_log(provenance_bundle, tmp_path):
    from fastapi.testclient import TestClient

    from engine.ops.service import BundleHolder, create_app

    c = TestClient(create_app(BundleHolder(provenance_bundle)))
    q = {"source": "DWP", "recipient": "LA", "data": "debt-data", "purpose": "fraud-prevention", "on": "2018-01-01"}
    assert c.post("/v1/decide", json=q).json()["decisions"][0]["verdict"] == "deny"
    d = c.post("/v1/decide", json={**q, "own_data": True}).json()["decisions"][0]
    assert d["verdict"] == "allow" and d["question"]["own_data"] is True
    bad = c.post("/v1/decide", json={**q, "own_data": True, "received_under": "DEA-s48"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "bad-usage"
    routes = c.post("/v1/routes", json={**q, "purpose": "debt-recovery", "received_under": "DEA-s48"}).json()
    assert routes["question"]["received_under"] == "DEA-s48"
    log = tmp_path / "log"
    ask18(provenance_bundle, "DWP", "LA", "debt-data", "-p", "fraud-prevention", "--audit-log", str(log))
    rec = json.loads(log.read_text().splitlines()[-1])
    assert rec["provenance"].startswith("not said, so every way DWP could") and rec["verdict"] == "deny"


def test_fmt_diff_and_lint_of_provenance(provenance_bundle, tmp_path):
    text = (provenance_bundle / "policies" / "main.policy").read_text()
    once = format_text(text)
    assert format_text(once) == once and "  data received-under DEA-s48\n" in once
    assert 'organisation JCP "Jobcentre Plus" part-of DWP functions employment-services' in once
    assert format_text('restriction R "r" {\n  data held-for f\n  data x\n  forbids A -> *\n}\n') == \
        'restriction R "r" {\n  forbids A -> *\n  data x\n  data held-for f\n}\n'
    old = engine.load(provenance_bundle)
    moved = text.replace('part-of DWP functions employment-services', 'part-of DWP functions social-security') \
        .replace("organisation DWP \"Department for Work and Pensions\" functions social-security",
                 "organisation DWP \"Department for Work and Pensions\" functions benefits")
    new_root = write_bundle(tmp_path / "new", {"main.policy": moved}, (provenance_bundle / "gateways.yaml").read_text())
    new = engine.load(new_root)
    result = diff_policies(old, new, dt.date(2018, 1, 1))
    assert {c.id for c in result.changes if c.kind == "organisation"} >= {"DWP", "JCP"}
    assert all(d.code != "unbound-provenance" for d in lint(old, dt.date(2018, 1, 1)))
    narrow = text.replace("data held-for social-security", "data held-for council-tax")
    diags = [d for d in lint(engine.load(write_bundle(tmp_path / "narrow", {"main.policy": narrow},
                                                       (provenance_bundle / "gateways.yaml").read_text())),
                             dt.date(2018, 1, 1)) if d.code == "unbound-provenance"]
    assert len(diags) == 1 and "`council-tax`" in diags[0].message and "SSAA-s123" in diags[0].message
    lsc = text + 'restriction LSC-BAR "x" {\n  one-way LSC\n  data received-under DEA-s48\n}\n'
    diags = [d for d in lint(engine.load(write_bundle(tmp_path / "lsc", {"main.policy": lsc},
                                                       (provenance_bundle / "gateways.yaml").read_text())),
                             dt.date(2018, 1, 1)) if d.code == "unbound-provenance"]
    assert len(diags) == 1 and "`LSC-BAR`" in diags[0].message and "`DEA-s48`" in diags[0].message


def test_unknown_provenance_names_in_the_bundle_are_diagnostics(provenance_bundle, tmp_path):
    text = (provenance_bundle / "policies" / "main.policy").read_text()
    bad = text.replace("data received-under DEA-s48", "data received-under DEA-s84") \
        .replace("data held-for social-security", "data held-for social-securty")
    root = write_bundle(tmp_path / "bad", {"main.policy": bad}, (provenance_bundle / "gateways.yaml").read_text())
    r = runner.invoke(app, ["check", "--bundle", str(root)])
    assert r.exit_code == 1  # findings at the fail level (error)
    assert "unknown gateway `DEA-s84`" in r.output and "unknown function `social-securty`" in r.output
    assert "did you mean `social-security`?" in r.output


# ---- chains that change purpose or data ------------------------------------------------------------------

ROUTES = Path(__file__).parent / "spec" / "routes"


def route_bundle(tmp_path: Path, name: str) -> Path:
    spec = yaml.safe_load((ROUTES / name).read_text(encoding="utf-8"))
    return write_bundle(tmp_path / name, {"main.policy": spec["policy"]}, spec["register"])


def test_the_routes_command_shows_each_hops_data_purpose_and_change(tmp_path):
    root = route_bundle(tmp_path, "chain-debt-to-crime-prevention.yaml")
    args = ["routes", "LA", "WYP", "debt-data", "--purpose", "crime-prevention", "--on", "2018-01-01", "--bundle",
            str(root)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert ("  LA → DWP: debt-data for debt-recovery under DEA-s48; what they may do with it next: pass it on also for "
            "crime-prevention") in r.output
    assert "the purpose changes here, as allowed by gateway DEA-s48: for crime-prevention" in r.output
    j = json.loads(runner.invoke(app, args + ["--format", "json"]).output)
    hops = j["routes"][0]["hops"]
    assert [(h["data"], h["purpose"], h["received_under"]) for h in hops] == [
        ("debt-data", "debt-recovery", None), ("debt-data", "crime-prevention", "DEA-s48")]
    assert hops[1]["changed_by"] == "gateway DEA-s48: for crime-prevention" and hops[0]["changed_by"] is None
    none = runner.invoke(app, args[:5] + ["marketing"] + args[6:])
    assert none.exit_code == 1 and "no lawful route" in none.output


def test_a_denied_decision_reports_the_chain_and_the_service_finds_it(tmp_path):
    root = route_bundle(tmp_path, "chain-deidentified-for-research.yaml")
    r = runner.invoke(app, ["can-share", "DWP", "RES", "deidentified-microdata", "--purpose", "research", "--on",
                            "2018-01-01", "--bundle", str(root)])
    assert r.exit_code == 1
    assert "DWP → PROC → RES  (DWP→PROC under DEA-s64 as identifiable-records; PROC→RES under DEA-s64-RES)" in r.output
    from fastapi.testclient import TestClient

    from engine.ops.service import BundleHolder, create_app

    c = TestClient(create_app(BundleHolder(root)))
    body = {"source": "DWP", "recipient": "RES", "data": "deidentified-microdata", "purpose": "research",
            "on": "2018-01-01"}
    hops = c.post("/v1/routes", json=body).json()["routes"][0]["hops"]
    assert [h["data"] for h in hops] == ["identifiable-records", "deidentified-microdata"]
    d = c.post("/v1/decide", json=body).json()["decisions"][0]
    assert d["verdict"] == "deny"
    assert d["routes"][0]["hops"][1]["changed_by"] == "gateway DEA-s64: as deidentified-microdata"


def test_lint_warns_about_a_change_no_gateway_can_use(tmp_path):
    spec = yaml.safe_load((ROUTES / "chain-debt-to-crime-prevention.yaml").read_text(encoding="utf-8"))
    text = spec["policy"].replace("onward for crime-prevention", "onward for marketing")
    policy = engine.load(write_bundle(tmp_path / "b", {"main.policy": text}, spec["register"]))
    diags = [d for d in lint(policy, dt.date(2018, 1, 1)) if d.code == "unusable-onward"]
    assert len(diags) == 1 and "`onward for marketing` in gateway `DEA-s48`" in diags[0].message
    assert diags[0].span.line == text.splitlines().index("  onward for marketing") + 1
    fine = engine.load(write_bundle(tmp_path / "c", {"main.policy": spec["policy"]}, spec["register"]))
    assert not [d for d in lint(fine, dt.date(2018, 1, 1)) if d.code == "unusable-onward"]


# ---- data-protection regimes --------------------------------------------------------------------------


def test_the_default_register_shows_a_basis_in_the_regime_of_the_date(default_policy):
    d = default_policy.decide("LSC", "DfES", "individualised-learner-record", "research", on=dt.date(2005, 7, 1))
    assert d.allowed and d.regime.id == "DPA-1998"
    assert d.regime.lawful_basis == ("public-task", "dpa1998-sch2-5",
                                     "Schedule 2 paragraph 5: necessary for the functions of a public body, the "
                                     "administration of justice or the Crown")
    assert d.to_dict()["regime"]["lawful_basis"]["id"] == "dpa1998-sch2-5"
    r = runner.invoke(app, ["can-share", "LSC", "DfES", "individualised-learner-record", "-p", "research", "--on",
                            "2005-07-01"])
    assert "lawful basis: public-task — in Data Protection Act 1998: dpa1998-sch2-5" in r.output
    later = default_policy.decide("LSC", "DfES", "individualised-learner-record", "research", on=dt.date(2019, 1, 1))
    assert later.regime.id == "UK-GDPR"
    assert [r.id for r in default_policy.regimes] == ["DPA-1984", "DPA-1998", "UK-GDPR"]


def test_the_default_bundle_cites_no_basis_of_the_wrong_regime():
    from engine.review.lint import check_and_lint
    from conftest import ROOT

    diags, _ = check_and_lint(ROOT, dt.date(2005, 6, 23))
    assert not [d for d in diags if d.code == "wrong-regime"]


def test_diff_sees_a_regime_change(tmp_path):
    spec = yaml.safe_load((SPEC / "regimes.yaml").read_text(encoding="utf-8"))
    old = engine.load(write_bundle(tmp_path / "old", {"main.policy": spec["policy"]}, spec["register"]))
    moved = spec["register"].replace("from: 2018-05-25", "from: 2020-01-01")
    new = engine.load(write_bundle(tmp_path / "new", {"main.policy": spec["policy"]}, moved))
    result = diff_policies(old, new, dt.date(2019, 6, 1))
    assert [(c.kind, c.id, c.details) for c in result.changes] == [("regime", "UK-GDPR", ("from",))]
    assert ("LSC", "ALI", "ilr", "planning") in {(f.source, f.recipient, f.data, f.purpose) for f in result.flows
                                                 if f.newly_allowed}


def test_a_route_says_which_hop_rests_on_an_implied_power(tmp_path):
    spec = yaml.safe_load((ROUTES / "chain-debt-to-crime-prevention.yaml").read_text(encoding="utf-8"))
    cited = '  statute CDA-1998 "section 115"\n'
    text = spec["policy"].replace(cited, cited + "  power implied\n")
    root = write_bundle(tmp_path / "b", {"main.policy": text}, spec["register"])
    args = ["routes", "LA", "WYP", "debt-data", "--purpose", "crime-prevention", "--on", "2018-01-01", "--bundle",
            str(root)]
    r = runner.invoke(app, args)
    assert "under CDA-s115 (an implied power: take legal advice)" in r.output
    hops = json.loads(runner.invoke(app, args + ["--format", "json"]).output)["routes"][0]["hops"]
    assert [h["power"] for h in hops] == ["express", "implied"]
    assert runner.invoke(app, args + ["--express-only"]).exit_code == 1
