"""The issue-4 commands end to end on the default bundle: recipients, sources, flows, blocked, graph, and the
routes reported beside a `can-share` DENY. Exit codes: 0 ok, 1 nothing found / deny, 2 error."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from cli import app
from engine.render import graph
from engine.eval import reach
from engine.render.reach import FLOW_COLUMNS
from engine.errors import RequestError

from conftest import D2005, ROOT, write_bundle

ON = ["--on", "2005-06-23", "--bundle", str(ROOT)]
SVG = "{http://www.w3.org/2000/svg}"


def run(*args: str):
    return CliRunner().invoke(app, list(args))


# ---- can-share: routes beside the direct answer -------------------------------------------------------


def test_can_share_reports_a_route_beside_a_deny_and_keeps_the_verdict():
    r = run("can-share", "DfES", "ALI", "provider-data", "--purpose", "inspection", *ON)
    assert r.exit_code == 1, r.output
    assert r.stdout.startswith("DENIED")
    assert "no direct basis; lawful route:" in r.stdout
    assert "DfES → LSC → ALI" in r.stdout
    assert "DfES → LLSC-London-Central → ALI" in r.stdout  # grouped under the LSC route, not on its own line
    r = run("can-share", "DfES", "ALI", "provider-data", "--purpose", "inspection", "--format", "json", *ON)
    assert r.exit_code == 1
    d = json.loads(r.stdout)["decisions"][0]
    assert d["verdict"] == "deny"
    assert [x["path"] for x in d["routes"]] == [["DfES", "LSC", "ALI"]]
    hops = d["routes"][0]["hops"]
    assert [(h["gateway"], h["agreement"]) for h in hops] == [("DFES-SPONSOR", "DFES-LSC-2005"),
                                                              ("LSC-INSPECTION", "LSC-ALI-2005")]
    assert hops[0]["onward"].startswith("to ALI, OfSTED and only-for ")
    assert [v["path"][1] for v in d["routes"][0]["variants"]] == ["LLSC-Greater-Manchester", "LLSC-London-Central"]


def test_an_allow_has_no_routes():
    r = run("can-share", "LSC", "ALI", "provider-data", "--purpose", "inspection", "--format", "json", *ON)
    assert r.exit_code == 0
    assert json.loads(r.stdout)["decisions"][0]["routes"] == []


# ---- recipients and sources ---------------------------------------------------------------------------


def test_recipients_text_and_json():
    r = run("recipients", "DfES", "provider-data", "--purpose", "inspection", *ON)
    assert r.exit_code == 0, r.output
    assert "by route DfES → LSC → ALI" in r.stdout
    assert "LSC (and its parts LLSC-Greater-Manchester, LLSC-London-Central)" in r.stdout
    r = run("recipients", "DfES", "provider-data", "--purpose", "inspection", "--format", "json", *ON)
    data = json.loads(r.stdout)
    by_org = {x["organisation"]: x for x in data["recipients"]}
    assert by_org["LSC"]["direct"]["hops"][0]["agreement"] == "DFES-LSC-2005"
    assert by_org["ALI"]["direct"] is None and by_org["ALI"]["routes"][0]["path"] == ["DfES", "LSC", "ALI"]
    assert data["max_hops"] == 4 and data["purposes"] == ["inspection"]


def test_recipients_without_purpose_answers_for_each_purpose():
    r = run("recipients", "DfES", "provider-data", *ON)
    assert r.exit_code == 0
    assert "for funding, inspection," in r.stdout and "Becta" in r.stdout


def test_nothing_reachable_exits_1():
    r = run("recipients", "AoC", "provider-data", "--purpose", "inspection", *ON)
    assert r.exit_code == 1
    assert "no organisation may lawfully receive it" in r.stdout
    # issue 15: and why
    assert "why: no gateway lets AoC disclose provider-data for inspection" in r.stdout
    # JCP may pass it only within its own legal person (DWP): no other body, and the one-way block says why
    jcp = run("recipients", "JCP", "provider-data", "--purpose", "inspection", *ON)
    assert ("why: JCP is bound by a one-way restriction, Social Security Administration Act 1992 Part VII "
            "(DWP-ONE-WAY-2005)"
            in jcp.stdout)


def test_a_body_and_its_parts_are_shown_as_the_same_body():
    # JCP may disclose provider data to no other body, but passing it to its department is no disclosure
    # (listed, but not counted: no other body may receive it, so the answer is "none", exit 1)
    r = run("recipients", "JCP", "provider-data", "--purpose", "inspection", "--format", "json", *ON)
    assert r.exit_code == 1
    found = json.loads(r.stdout)["recipients"]
    assert [(x["organisation"], x["same_body"], x["direct"]) for x in found] == [("DWP", True, None)]
    text = run("recipients", "JCP", "provider-data", "--purpose", "inspection", *ON).stdout
    assert "DWP" in text and "same body: not a disclosure between bodies" in text
    assert "no other organisation may lawfully receive it; within the same body (not a disclosure): DWP" in text
    assert "1 organisation" not in text
    # a body with other recipients too: exit 0, its parts counted apart
    text = run("recipients", "LSC", "provider-data", "--purpose", "inspection", *ON).stdout
    assert ("2 organisations; within the same body (not a disclosure): LLSC-Greater-Manchester, "
            "LLSC-London-Central") in text


def test_sources():
    r = run("sources", "ALI", "provider-data", "--purpose", "inspection", "--format", "json", *ON)
    assert r.exit_code == 0
    names = {x["organisation"] for x in json.loads(r.stdout)["sources"]}
    assert names == {"DfES", "LSC", "LLSC-London-Central", "LLSC-Greater-Manchester", "OfSTED"}


@pytest.mark.parametrize("args, needle", [
    (["recipients", "DfEZ", "provider-data"], "did you mean `DfE`, `DfES`?"),
    (["recipients", "DfES", "provider-dta"], "did you mean `provider-data`"),
    (["sources", "ALI", "provider-data", "--purpose", "inspecton"], "did you mean `inspection`"),
    (["recipients", "DfES", "provider-data", "--max-hops", "9"], "from 1 to 8 hops"),
    (["recipients", "DfES", "provider-data", "--max-hops", "0"], "limit-exceeded"),
    (["recipients", "DfES", "provider-data", "--assume", "NOPE"], "unknown statute"),
    (["flows", "--data", "provider-dta"], "did you mean `provider-data`"),
    (["blocked", "--purpose", "inspecton"], "did you mean `inspection`"),
    (["graph", "--highlight", "DfES", "ALI"], "needs a question"),
    (["graph", "--data", "provider-data", "--purpose", "inspection", "--highlight", "DfES", "AL1"], "did you mean"),
    (["graph", "--max-nodes", "5"], "more than the limit of 5"),
])
def test_bad_input_exits_2_with_a_diagnostic(args, needle):
    r = run(*args, *ON)
    assert r.exit_code == 2, r.output
    assert needle in r.stderr
    assert "Traceback" not in r.output


def test_bad_date_exits_2():
    r = run("flows", "--bundle", str(ROOT), "--on", "2005-13-01")
    assert r.exit_code == 2 and "error[bad-date]" in r.stderr


def test_policy_routes_bounds_max_hops(default_policy):
    with pytest.raises(RequestError):
        default_policy.routes("DfES", "ALI", "provider-data", "inspection", on=D2005, max_hops=9)
    assert default_policy.routes("DfES", "ALI", "provider-data", "inspection", on=D2005, max_hops=1) == []
    assert len(default_policy.routes("DfES", "ALI", "provider-data", "inspection", on=D2005)) == 1


# ---- the register of sharing and blocked flows ---------------------------------------------------------


def test_flows_csv_and_json_agree():
    r = run("flows", "--format", "csv", *ON)
    assert r.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == FLOW_COLUMNS
    assert {"source": "LSC", "recipient": "ALI", "data": "provider-data", "purpose": "inspection",
            "gateway": "LSC-INSPECTION", "agreement": "LSC-ALI-2005"}.items() <= next(
        x for x in rows if x["source"] == "LSC" and x["recipient"] == "ALI").items()
    # reported at the highest level: the local LSCs and sub-purposes are covered by the LSC row
    assert not any(x["source"].startswith("LLSC") for x in rows if x["same_body"] == "false")
    # a body and its parts: one row each way, for any data and purpose
    assert {"source": "LLSC-London-Central", "recipient": "LSC", "data": "*", "purpose": "*", "gateway": "same-body",
            "same_body": "true"}.items() <= next(x for x in rows if x["source"] == "LLSC-London-Central").items()
    assert not any(x["purpose"].startswith("inspection.") and x["source"] == "LSC" for x in rows)
    js = json.loads(run("flows", "--format", "json", *ON).stdout)["flows"]
    assert len(js) == len(rows)


def test_every_flow_row_is_an_allow(default_policy):
    rows = reach.lawful_flows(default_policy, on=D2005)
    assert rows
    for row in rows:
        data = row.data if row.data != "*" else sorted(default_policy.data)[0]  # same body: any data, any purpose
        purpose = row.purpose if row.purpose != "*" else sorted(default_policy.purposes)[0]
        d = default_policy.decide(row.source, row.recipient, data, purpose, on=D2005, fixes=False, routes=False)
        assert d.allowed and bool(d.same_body) == row.same_body, row


def test_flows_filters():
    r = run("flows", "--data", "provider-data", "--purpose", "inspection", "--format", "json", *ON)
    flows = json.loads(r.stdout)["flows"]
    pairs = {(x["source"], x["recipient"]) for x in flows if not x["same_body"]}
    assert pairs == {("DfES", "LSC"), ("LSC", "ALI"), ("LSC", "OfSTED"), ("ALI", "OfSTED"), ("OfSTED", "ALI")}
    assert ("JCP", "DWP", "provider-data", "inspection") in \
        {(x["source"], x["recipient"], x["data"], x["purpose"]) for x in flows if x["same_body"]}


def test_blocked_lists_one_way_blocks_first(default_policy):
    r = run("blocked", "--format", "json", "--on", "2020-01-01", "--bundle", str(ROOT))
    assert r.exit_code == 0
    rows = json.loads(r.stdout)["blocked"]
    # DWP's possible common-law power over provider data meets the department's one-way position of 2005
    assert rows and rows[0]["one_way"] and rows[0]["restrictions"] == ["DWP-ONE-WAY-2005"]
    assert (rows[0]["source"], rows[0]["recipient"], rows[0]["gateway"]) == ("DWP", "OFSTED-2007", "DWP-COMMON-LAW")
    assert rows[0]["needs_agreement"] is True
    for row in rows:  # blocked, yet the gateway names the flow
        assert not default_policy.allowed(row["source"], row["recipient"], row["data"], row["purpose"],
                                          on=__import__("datetime").date(2020, 1, 1))
    r = run("blocked", *ON)
    assert r.exit_code == 0 and "DWP → ALI  provider-data for inspection" in r.stdout
    r = run("blocked", "--on", "1990-01-01", "--bundle", str(ROOT))
    assert r.exit_code == 0 and "no flow that a gateway in force would allow is blocked" in r.stdout


def test_blocked_sorts_one_way_before_other_blocks(make_bundle):
    import engine

    root = make_bundle({"main.policy": """
organisation A "A"
organisation B "B"
organisation C "C"
data d "Data"
purpose p "Purpose"
gateway G "A and C give B the data" {
  statute LSA-2000 "s1"
  allows A, C -> B
  data d
  for p
}
restriction R1 "A may not give B anything" {
  statute SSAA-1992 "s1"
  forbids A -> B
}
restriction R2 "C is one-way" {
  statute SSAA-1992 "s2"
  one-way C
}
"""})
    rows = reach.blocked_flows(engine.load(root), on=D2005)
    assert [(r.source, r.restrictions, r.one_way) for r in rows] == [("C", ("R2",), True), ("A", ("R1",), False)]


# ---- pictures -----------------------------------------------------------------------------------------


def test_dot_has_one_node_per_organisation_and_clusters_by_parent(default_policy):
    r = run("graph", "--format", "dot", *ON)
    assert r.exit_code == 0, r.output
    dot = r.stdout
    for k in default_policy.orgs:
        assert f'\n    "{k}" [' in dot or f'\n  "{k}" [' in dot or f'      "{k}" [' in dot, k
    assert 'subgraph "cluster_dwp"' in dot and 'subgraph "cluster_lsc"' in dot
    assert '"lsc" -> "ali" [label="LSC-INSPECTION / LSC-ALI-2005"' in dot
    assert "one-way: DWP-ONE-WAY-2005" in dot


def test_dot_draws_blocked_flows_dashed_red_and_highlights_a_route():
    dot = run("graph", "--format", "dot", "--on", "2020-01-01", "--bundle", str(ROOT)).stdout
    assert '"dwp" -> "ofsted-2007" [label="blocked: DWP-ONE-WAY-2005"' in dot and "style=dashed" in dot
    r = run("graph", "--data", "provider-data", "--purpose", "inspection", "--highlight", "DfES", "ALI", *ON)
    assert r.exit_code == 0
    assert "highlighted lawful route DfES → LSC → ALI" in r.stderr
    bold = [line for line in r.stdout.splitlines() if "penwidth=3.5" in line]
    assert sorted(line.split(" [")[0].strip() for line in bold) == ['"dfes" -> "lsc"', '"lsc" -> "ali"']
    # a filter keeps only the organisations in a drawn flow
    assert '"jcp"' not in r.stdout


def test_mermaid(default_policy):
    r = run("graph", "--format", "mermaid", "--data", "provider-data", "--purpose", "inspection",
            "--highlight", "DfES", "ALI", *ON)
    assert r.exit_code == 0
    assert r.stdout.startswith("flowchart LR\n")
    assert 'n_lsc ==>|"LSC-INSPECTION / LSC-ALI-2005"| n_ali' in r.stdout
    assert "subgraph c_lsc" not in r.stdout  # local LSCs are not drawn: no flow of theirs is at the top level


@pytest.mark.skipif(graph.renderer() is None, reason="neither Graphviz `dot` nor graphviz-pure is installed")
def test_svg_of_the_default_bundle_is_valid_xml_with_one_node_per_organisation(default_policy, tmp_path):
    out = tmp_path / "network.svg"
    r = run("graph", "--format", "svg", "--output", str(out), *ON)
    assert r.exit_code == 0, r.output
    root = ET.fromstring(out.read_bytes())
    assert root.tag == f"{SVG}svg"
    nodes = [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
    assert sorted(g.find(f"{SVG}title").text for g in nodes) == sorted(default_policy.orgs)


@pytest.mark.skipif(graph.renderer() is None, reason="neither Graphviz `dot` nor graphviz-pure is installed")
def test_png(tmp_path):
    out = tmp_path / "n.png"
    assert run("graph", "--format", "png", "--output", str(out), *ON).exit_code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_graphviz_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(graph.shutil, "which", lambda *_a, **_k: None)
    r = run("graph", "--format", "svg", *ON)
    assert r.exit_code == 2
    assert "error[graphviz-missing]" in r.stderr and "apt-get install graphviz" in r.stderr
    assert "pip install graphviz-pure" in r.stderr
    assert run("graph", "--format", "dot", *ON).exit_code == 0  # DOT needs no renderer


def test_committed_picture_is_current(default_policy):
    """docs/network.dot is what `lawful graph --on 2005-06-23 --format dot` draws (docs/network.svg is its
    rendering; regenerate both with the command in docs/user-guide.md)."""
    committed = (ROOT / "docs" / "network.dot").read_text(encoding="utf-8")
    assert run("graph", "--format", "dot", *ON).stdout == committed, (
        "docs/network.dot is stale: regenerate docs/network.svg and docs/network.dot with the command in "
        "docs/user-guide.md (section 'Pictures: graph')")


def test_outputs_do_not_depend_on_file_order(tmp_path):
    import engine

    texts = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "policies").glob("*.policy")}
    register = (ROOT / "gateways.yaml").read_text(encoding="utf-8")
    a = engine.load(write_bundle(tmp_path / "a", texts, register))
    b = engine.load(write_bundle(tmp_path / "b", {f"{9 - i}-{n}": t for i, (n, t) in enumerate(sorted(texts.items()))},
                                 register))
    assert [r.to_dict() | {"gateway_at": None, "agreement_at": None} for r in reach.lawful_flows(a, on=D2005)] == \
        [r.to_dict() | {"gateway_at": None, "agreement_at": None} for r in reach.lawful_flows(b, on=D2005)]
    pa = graph.build(a, on=D2005)
    pb = graph.build(b, on=D2005)
    assert graph.to_dot(a, pa) == graph.to_dot(b, pb)
    assert graph.to_mermaid(a, pa) == graph.to_mermaid(b, pb)
    ra = reach.recipients(a, "DfES", "provider-data", on=D2005)
    rb = reach.recipients(b, "DfES", "provider-data", on=D2005)
    strip = lambda d: json.dumps(d, sort_keys=True).replace("policies/", "")  # noqa: E731
    assert len(strip(ra.to_dict())) > 0 and [x.organisation for x in ra.found] == [x.organisation for x in rb.found]
