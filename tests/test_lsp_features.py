"""The language server's answers as plain functions (engine/ops/lsp/features.py and workspace.py), without a
client: what completion offers where, rename and its refusals, hover in gateways.yaml, the bundle a file
belongs to, and that the diagnostics are exactly `lawful check`'s. (tests/test_lsp.py drives the real server.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.ops.lsp import features as f
from engine.ops.lsp.symbols import DATA, GATEWAY, ORG, PURPOSE, RESTRICTION, RULE, STATUTE
from engine.ops.lsp.workspace import BundleState, bundle_root_of
from engine.review.lint import check_and_lint

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bundle")
    shutil.copytree(ROOT / "policies", root / "policies")
    shutil.copy(ROOT / "gateways.yaml", root / "gateways.yaml")
    shutil.copytree(ROOT / "tests" / "policy", root / "tests" / "policy")
    return root


@pytest.fixture(scope="module")
def analysis(bundle):
    return BundleState(bundle).analyse({})


def at(text: str, needle: str, offset: int = 0) -> tuple[int, int]:
    """(1-based line, 1-based column) of `needle` + offset in the text."""
    i = text.index(needle) + offset
    return text.count("\n", 0, i) + 1, i - (text.rfind("\n", 0, i) + 1) + 1


# ---- what is checked -------------------------------------------------------------------------------------


def test_the_diagnostics_are_lawful_checks(bundle, analysis):
    expected, _sources = check_and_lint(bundle)
    got = sorted((d for ds in analysis.diagnostics.values() for d in ds), key=lambda d: d.sort_key())
    assert got == expected and got  # the default bundle has its lint warnings


def test_a_file_belongs_to_the_nearest_bundle_above_it(bundle, tmp_path):
    assert bundle_root_of(bundle / "policies" / "x.policy") == bundle
    assert bundle_root_of(bundle / "tests" / "policy" / "story.policy") == bundle
    lone = tmp_path / "lone" / "t.policy"
    assert bundle_root_of(lone, explicit=bundle) == bundle.resolve()
    assert bundle_root_of(lone, folder=bundle) == bundle.resolve()  # the workspace folder, as the CLI's cwd


def test_a_broken_register_is_reported_and_names_still_resolve(bundle):
    state = BundleState(bundle)
    state.analyse({})
    a = state.analyse({bundle / "gateways.yaml": "statutes: [\n"})
    assert [d.code for d in a.diagnostics["gateways.yaml"]] == ["bad-yaml"]
    assert a.policy is None
    # completion still knows the statutes (and every other name) from the last register that read
    items, _ = f.completions(a, 'gateway G "g" {\n  statute \n}\n', 2, 11)
    assert "SSA-FRAUD-1997" in {c.label for c in items} and "SSAA-1992" in {c.label for c in items}


def test_a_file_that_does_not_parse_keeps_its_names_for_completion(bundle):
    state = BundleState(bundle)
    state.analyse({})
    orgs = bundle / "policies" / "organisations.policy"
    a = state.analyse({orgs: orgs.read_text() + "\norganisation \n"})
    assert any(d.code == "parse-error" for d in a.diagnostics["policies/organisations.policy"])
    items, _ = f.completions(a, 'agreement A "a" {\n  from \n}\n', 2, 8)
    assert {"LSC", "ALI", "JCP"} <= {c.label for c in items}


def test_an_open_test_file_gets_what_lawful_test_reports(bundle):
    state = BundleState(bundle)
    extra = bundle / "tests" / "policy" / "extra.policy"
    a = state.analyse({extra: 'data x "x"\ntest "t" {\n  expect deny JCP -> ALIX provider-data\n}\n'})
    codes = sorted(d.code for d in a.diagnostics["tests/policy/extra.policy"])
    assert codes == ["declaration-in-test-file", "unknown-name"]
    assert a.diagnostics.get("tests/policy/story.policy") is None  # not open: indexed, not checked


# ---- completion ------------------------------------------------------------------------------------------

BLOCK = 'gateway G "g" {\n  {}\n}\n'
CASES = [
    # (text with | for the cursor, what is wanted)
    ("|", "declarations"),
    ('data x "x" |', "data-options"),
    ('data x "x" under |', DATA),
    ('purpose x "x" under |', PURPOSE),
    ('organisation X "x" part-of |', ORG),
    ('organisation X "x" succeeds |', ORG),
    ("organisation |", None),
    ("organisation X |", None),
    ('gateway G "g" {\n  |\n}', "gateway-clauses"),
    ('gateway G "g" {\n  allows |\n}', ORG),
    ('gateway G "g" {\n  allows A, |\n}', ORG),
    ('gateway G "g" {\n  allows A -> |\n}', ORG),
    ('gateway G "g" {\n  allows A -> B, C|\n}', ORG),
    ('gateway G "g" {\n  data |\n}', DATA),
    ('gateway G "g" {\n  data provider-data, |\n}', DATA),
    ('gateway G "g" {\n  for |\n}', PURPOSE),
    ('gateway G "g" {\n  statute |\n}', STATUTE),
    ('gateway G "g" {\n  overrides |\n}', RESTRICTION),
    ('gateway G "g" {\n  lawful-basis |\n}', "bases"),
    ('gateway G "g" {\n  onward |\n}', "onward"),
    ('gateway G "g" {\n  onward to |\n}', ORG),
    ('gateway G "g" {\n  onward only-for |\n}', PURPOSE),
    ('gateway G "g" {\n  valid |\n}', "valid"),
    ('gateway G "g" {\n  valid from |\n}', None),
    ('gateway G "g" {\n  valid 2005-01-01 to |\n}', None),
    ('gateway G "g" {\n  note "a |', None),
    ('gateway G "g" {\n  # allows |', None),
    ('restriction R "r" {\n  except to |\n}', ORG),
    ('restriction R "r" {\n  except for |\n}', PURPOSE),
    ('restriction R "r" {\n  one-way |\n}', ORG),
    ('agreement A "a" {\n  from |\n}', ORG),
    ('agreement A "a" {\n  from LSC to |\n}', ORG),
    ('agreement A "a" {\n  between LSC and |\n}', ORG),
    ('agreement A "a" {\n  under |\n}', GATEWAY),
    ('agreement A "a" {\n  |\n}', "agreement-clauses"),
    ('test "t" {\n  |\n}', ("expect",)),
    ('test "t" {\n  expect |\n}', ("allow", "deny")),
    ('test "t" {\n  expect deny |\n}', ORG),
    ('test "t" {\n  expect deny JCP -> |\n}', ORG),
    ('test "t" {\n  expect deny JCP -> ALI |\n}', DATA),
    ('test "t" {\n  expect deny JCP -> ALI provider-data for |\n}', PURPOSE),
    ('test "t" {\n  expect deny JCP -> ALI provider-data assuming |\n}', STATUTE),
    ('test "t" {\n  expect deny JCP -> ALI provider-data because X, |\n}', RULE),
    ('test "t" {\n  expect deny JCP -> ALI provider-data for inspection |\n}',
     ("on", "assuming", "given", "express-only", "received-under", "own-data", "held-for", "because", "expect")),
    ('test "t" {\n  expect deny JCP -> ALI provider-data own-data |\n}', ("for", "on", "assuming", "given",
                                                                        "express-only", "held-for", "because",
                                                                        "expect")),
    ('test "t" {\n  expect deny JCP -> ALI provider-data received-under |\n}', GATEWAY),
    ('gateway G "g" {\n  data x\n}\n|', "declarations"),
]


@pytest.mark.parametrize("text,want", CASES)
def test_completion_context(text, want):
    from engine.ops.lsp import vocabulary as vocab
    from engine.check.checks import LAWFUL_BASES

    named = {
        "declarations": vocab.DECLARATIONS,
        "data-options": tuple(c.label for c in vocab.clauses_of("data")) + vocab.DECLARATIONS,
        "gateway-clauses": tuple(c.label for c in vocab.clauses_of("gateway")),
        "agreement-clauses": tuple(c.label for c in vocab.clauses_of("agreement")),
        "bases": LAWFUL_BASES,
        "onward": ("none", "to", "only-for", "as-discloser"),
        "valid": ("from", "until"),
    }
    cursor = text.index("|")
    clean = text.replace("|", "")
    line, column = clean.count("\n", 0, cursor) + 1, cursor - (clean.rfind("\n", 0, cursor) + 1) + 1
    got, _start = f.completion_context(clean, line, column)
    assert got == named.get(want, want) if isinstance(want, str) else got == want


def test_the_clauses_offered_are_those_the_block_takes():
    from engine.ops.lsp import vocabulary as vocab

    gateway = {c.label for c in vocab.clauses_of("gateway")}
    assert {"statute", "allows", "data", "for", "overrides", "requires agreement", "valid", "onward"} <= gateway
    assert not gateway & {"from", "between", "one-way", "forbids", "except", "owner", "review"}
    assert {c.label for c in vocab.clauses_of("agreement")} >= {"from", "between", "under", "owner", "review"}


def test_a_name_being_typed_is_replaced_whole(analysis):
    text = 'agreement A "a" {\n  data provider-d\n}\n'
    items, start = f.completions(analysis, text, 2, 18)
    assert start == 8 and "provider-data" in {c.label for c in items}
    org_items, _ = f.completions(analysis, 'agreement A "a" {\n  from \n}\n', 2, 8)
    jcp = [c for c in org_items if c.label == "JobCentrePlus"]
    assert jcp and jcp[0].detail == "alias of JCP"


# ---- hover, definition, rename -----------------------------------------------------------------------------


def test_hover_and_definition_in_gateways_yaml(bundle, analysis):
    register = (bundle / "gateways.yaml").read_text()
    line, col = at(register, "  TCA-2002:", 4)
    text, span = f.hover(analysis, "gateways.yaml", register, line, col)
    assert "**statute** `TCA-2002`" in text and "citation: 2002 c. 21" in text
    assert span.line == line and span.column == 3 and span.end_column == 3 + len("TCA-2002")
    refs = f.references(analysis, "gateways.yaml", line, col)
    assert {s.file for s in refs} == {"gateways.yaml", "policies/gateways.policy"}


def test_renaming_a_statute_edits_its_key_its_citations_and_assumptions(bundle, analysis):
    proposed = (bundle / "policies" / "proposed.policy").read_text()
    line, col = at(proposed, "statute DCA-GATEWAY-2006", 9)
    edits = f.rename(analysis, "policies/proposed.policy", line, col, "DCA-GATEWAY-2007")
    assert set(edits) == {"gateways.yaml", "policies/proposed.policy", "tests/policy/story.policy"}
    register = (bundle / "gateways.yaml").read_text().splitlines()
    (key,) = edits["gateways.yaml"]
    assert register[key.line - 1][key.column - 1 : key.end_column - 1] == "DCA-GATEWAY-2006"
    story = (bundle / "tests" / "policy" / "story.policy").read_text()
    assert len(edits["tests/policy/story.policy"]) == story.count("assuming DCA-GATEWAY-2006")


def test_rename_refuses_an_alias_a_taken_name_and_a_non_identifier(bundle):
    state = BundleState(bundle)
    path = bundle / "policies" / "alias.policy"
    text = (
        'data alias-data "Alias data" under provider-data\ngateway ALIAS-G "g" {\n  statute LSA-2000\n'
        "  allows JobCentrePlus -> LSC\n  data alias-data\n  for inspection\n}\n"
    )
    a = state.analyse({path: text})
    line, col = at(text, "JobCentrePlus", 2)
    with pytest.raises(f.FeatureError, match="is an alias of `JCP`"):
        f.prepare_rename(a, "policies/alias.policy", line, col)
    line, col = at(text, 'alias-data "', 1)
    with pytest.raises(f.FeatureError, match="already names a data category"):
        f.rename(a, "policies/alias.policy", line, col, "provider-data")
    with pytest.raises(f.FeatureError, match="not an identifier"):
        f.rename(a, "policies/alias.policy", line, col, "9lives")
    edits = f.rename(a, "policies/alias.policy", line, col, "Alias-Data")  # a new spelling of itself is fine
    assert sum(len(v) for v in edits.values()) == 2
    # a rule's new name may not be another kind of rule's: one namespace
    line, col = at(text, "ALIAS-G", 1)
    with pytest.raises(f.FeatureError, match="share one namespace"):
        f.rename(a, "policies/alias.policy", line, col, "LSC-ALI-2005")


def test_the_decision_command_speaks_like_can_share(analysis):
    text = f.decide_text(analysis, "JCP", "ALI", "provider-data", "inspection", "2005-06-23")
    assert text.startswith("DENIED — as JCP holds it for employment-services or social-security: one-way legislative "
                           "block") and "2005-06-23" in text
    assert "unknown organisation `JCPX`" in f.decide_text(analysis, "JCPX", "ALI", "provider-data", "inspection")
    assert "bad-date" in f.decide_text(analysis, "JCP", "ALI", "provider-data", "inspection", "2005-13-01")
    grouped = f.decide_text(analysis, "LSC", "ALI", "provider-data", None, "2005-06-23")
    assert grouped.splitlines()[1].startswith("allowed for inspection")


def test_formatting_refuses_a_file_that_does_not_parse():
    with pytest.raises(f.FeatureError, match="not formatted: .*parse-error"):
        f.format_document('gateway G "g" {\n  data\n}\n', "x.policy")
    assert f.format_document('data x "x"\n', "x.policy") is None  # already canonical: no edit


# ---- the command ---------------------------------------------------------------------------------------------


def test_lawful_lsp_without_the_extra_says_so(tmp_path):
    """Without pygls, `lawful lsp` is a missing-extra error, exit 2 (run with pygls hidden from the import)."""
    import subprocess
    import sys

    hide = "import sys; sys.modules['pygls'] = None; sys.argv = ['lawful', 'lsp']; import cli; cli.app()"
    p = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert p.returncode == 2
    assert "error[missing-extra]: `lawful lsp` needs the `lsp` extra" in p.stderr and "lawful[lsp]" in p.stderr


def test_lawful_lsp_listens_on_tcp():
    """`lawful lsp --tcp PORT` answers `initialize` on 127.0.0.1:PORT."""
    import json
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), "lsp", "--tcp", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=30)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        with conn:
            body = json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {"processId": None, "rootUri": None, "capabilities": {}},
                }
            ).encode()
            conn.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, rest = data.split(b"\r\n\r\n", 1)
            length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1])
            while len(rest) < length:
                rest += conn.recv(65536)
            reply = json.loads(rest[:length])
        caps = reply["result"]["capabilities"]
        assert reply["result"]["serverInfo"]["name"] == "lawful"
        for feature in (
            "hoverProvider",
            "definitionProvider",
            "referencesProvider",
            "completionProvider",
            "documentFormattingProvider",
            "renameProvider",
            "codeLensProvider",
        ):
            assert caps.get(feature), feature
        assert set(caps["executeCommandProvider"]["commands"]) == {"lawful.decide", "lawful.testResults"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_hover_on_an_organisation_shows_its_former_name_classes_and_transfers(tmp_path):
    """Issue 17 with issue 12's constructs: a rename, a dated class membership and a transfer of functions."""
    root = tmp_path / "b"
    (root / "policies").mkdir(parents=True)
    shutil.copy(ROOT / "gateways.yaml", root / "gateways.yaml")
    text = (
        'organisation TTA "Teacher Training Agency"\n'
        'organisation TDA "Training and Development Agency for Schools" renames TTA on 2005-09-01 '
        "is public-body from 2005-09-01\n"
        'organisation OLD "Old inspectorate"\n'
        'organisation NEW "New inspectorate"\n'
        'class public-body "Public bodies"\n'
        "transfer OLD to NEW on 2007-04-01\n"
        'data d "D"\npurpose p "P"\n'
    )
    (root / "policies" / "orgs.policy").write_text(text)
    analysis = BundleState(root).analyse({})
    hovered, _span = f.hover(analysis, "policies/orgs.policy", text, *at(text, "organisation TDA", 13))
    assert "formerly `TTA` (renamed on 2005-09-01)" in hovered
    assert "is `public-body` from 2005-09-01" in hovered
    hovered, _span = f.hover(analysis, "policies/orgs.policy", text, *at(text, "organisation NEW", 13))
    assert "functions of OLD passed to NEW on 2007-04-01" in hovered
