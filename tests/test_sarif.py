"""Issue 16, item 4: SARIF ready for GitHub code scanning — valid against the official schema, stable
`partialFingerprints`, rule `helpUri` into docs/diagnostics.md (generated from the codes), `fullDescription`,
and the run's `versionControlProvenance` (without credentials)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from cli import app
from conftest import ROOT
from engine.base.diagnostics import CODES
from engine.syntax.clauses import explain
from engine.render.report import diagnostics_reference
from engine.review.vcs import _without_credentials, provenance

runner = CliRunner()
SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-2.1.0.json").read_text(encoding="utf-8"))
DOCS = "https://github.com/example-org/lawful/blob/v0.1.0/docs/diagnostics.md"


def _git(repo: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.org", GIT_CONFIG_NOSYSTEM="1", HOME=str(repo))
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "gateways.yaml", repo / "gateways.yaml")
    shutil.copytree(ROOT / "policies", repo / "policies")
    (repo / "lawful.toml").write_text("as-of = 2007-06-01\n", encoding="utf-8")  # some expiry findings
    for k in ("GITHUB_REPOSITORY", "GITHUB_SHA", "GITHUB_SERVER_URL", "GITHUB_HEAD_REF", "GITHUB_REF"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv(DOCS_ENV, DOCS)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "bundle")
    _git(repo, "remote", "add", "origin", "https://someone:ghp_SECRET123@github.com/example-org/policy.git")
    monkeypatch.chdir(repo)
    return repo


DOCS_ENV = "LAWFUL_DOCS_URL"


def sarif(*args: str) -> dict:
    r = runner.invoke(app, ["check", "--format", "sarif", *args])
    assert r.exit_code in (0, 1), r.output
    log = json.loads(r.output)
    cls = jsonschema.validators.validator_for(SCHEMA)
    cls(SCHEMA, format_checker=cls.FORMAT_CHECKER).validate(log)
    return log


def test_rules_carry_help_links_descriptions_and_levels(repo):
    run = sarif()["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert set(CODES) <= set(rules)
    for code, rule in rules.items():
        assert rule["helpUri"] == f"{DOCS}#{code}"
        assert rule["fullDescription"]["text"] == explain(code)
        assert rule["help"]["markdown"].startswith(explain(code))
    assert rules["no-review-date"]["defaultConfiguration"]["level"] == "warning"
    assert rules["isolated-organisation"]["defaultConfiguration"]["level"] == "note"
    assert rules["parse-error"]["defaultConfiguration"]["level"] == "error"
    assert run["tool"]["driver"]["informationUri"] == DOCS
    # every helpUri lands on a heading of docs/diagnostics.md
    page = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    anchors = set(re.findall(r"^## ([a-z0-9-]+)$", page, re.M))
    assert anchors == set(CODES)


def test_without_a_docs_url_there_is_no_help_link(repo, monkeypatch):
    monkeypatch.delenv(DOCS_ENV)
    monkeypatch.setenv(DOCS_ENV, "javascript:alert(1)")  # not a web address: ignored
    rules = sarif()["runs"][0]["tool"]["driver"]["rules"]
    assert not any("helpUri" in r for r in rules)


def test_version_control_provenance_without_credentials(repo, monkeypatch):
    run = sarif()["runs"][0]
    (vcp,) = run["versionControlProvenance"]
    assert vcp["repositoryUri"] == "https://github.com/example-org/policy.git"
    assert vcp["revisionId"] == _git(repo, "rev-parse", "HEAD").strip()
    assert "SECRET" not in json.dumps(run)
    # in GitHub Actions, the workflow's repository and commit
    monkeypatch.setenv("GITHUB_REPOSITORY", "example-org/policy")
    monkeypatch.setenv("GITHUB_SHA", "a" * 40)
    monkeypatch.setenv("GITHUB_REF", "refs/pull/7/merge")
    (vcp,) = sarif()["runs"][0]["versionControlProvenance"]
    assert vcp == {"repositoryUri": "https://github.com/example-org/policy", "revisionId": "a" * 40,
                   "branch": "refs/pull/7/merge"}


@pytest.mark.parametrize("url, safe", [
    ("https://user:pass@github.com/o/r.git", "https://github.com/o/r.git"),
    ("https://x-access-token:ghs_abc@github.com:443/o/r", "https://github.com:443/o/r"),
    ("git@github.com:o/r.git", "ssh://github.com/o/r.git"),
    ("ssh://git@example.org/o/r.git", "ssh://example.org/o/r.git"),
    ("https://github.com/o/r.git?token=abc#frag", "https://github.com/o/r.git"),
    ("", None),
])
def test_remote_urls_lose_their_credentials(url, safe):
    assert _without_credentials(url) == safe


def test_no_provenance_outside_a_repository(tmp_path):
    assert provenance(tmp_path, env={}) is None


def _findings(log: dict) -> dict[tuple[str, str], tuple[str, int]]:
    out = {}
    for r in log["runs"][0]["results"]:
        key = (r["ruleId"], r["message"]["text"])
        assert key not in out
        line = r["locations"][0]["physicalLocation"]["region"]["startLine"]
        out[key] = (r["partialFingerprints"]["lawfulFinding/v1"], line)
    return out


def test_fingerprints_survive_unrelated_edits(repo):
    before = _findings(sarif())
    assert len(before) > 10 and len({fp for fp, _ in before.values()}) == len(before)  # one per finding
    # unrelated edits: a comment block at the top of every file, a new organisation in the middle
    for path in (repo / "policies").glob("*.policy"):
        path.write_text("# reviewed 2026\n#\n# (moved every line down)\n" + path.read_text(encoding="utf-8"),
                        encoding="utf-8")
    orgs = repo / "policies" / "organisations.policy"
    text = orgs.read_text(encoding="utf-8")
    orgs.write_text(text.replace("\norganisation ", '\norganisation NEWBODY "A new body"\norganisation ', 1),
                    encoding="utf-8")
    after = _findings(sarif())
    moved = 0
    for key, (fp, line) in before.items():
        if key not in after:
            continue
        assert after[key][0] == fp, key
        moved += after[key][1] != line
    assert moved >= len(before) // 2  # the lines did move; the fingerprints did not
    # an edit to the finding's own line is a different finding
    agreements = repo / "policies" / "agreements.policy"
    agreements.write_text(agreements.read_text(encoding="utf-8").replace("  valid 2005-08-01 to 2006-07-31",
                                                                        "  valid 2005-08-01 to 2006-07-30", 1),
                          encoding="utf-8")
    changed = _findings(sarif())
    old_fp = {fp for fp, _ in after.values()}
    assert any(fp not in old_fp for fp, _ in changed.values())


def test_the_diagnostics_reference_is_current():
    path = ROOT / "docs" / "diagnostics.md"
    text = diagnostics_reference()
    if path.read_text(encoding="utf-8") != text and os.environ.get("LAWFUL_UPDATE_DOCS") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, "docs/diagnostics.md is stale: LAWFUL_UPDATE_DOCS=1 rewrites it"
