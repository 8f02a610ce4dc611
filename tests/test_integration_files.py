"""The pre-commit hooks, the GitHub Action and its example workflow name commands and options that exist."""

from __future__ import annotations

import shlex

import yaml
from typer.testing import CliRunner

from cli import app
from conftest import ROOT

runner = CliRunner()


def _accepts(command: str) -> None:
    """`lawful …` parses: the same words with --help exit 0 (typer rejects unknown options with exit 2)."""
    words = shlex.split(command)
    assert words[0] == "lawful", command
    args = [w for w in words[1:] if not w.startswith("$") and '"' not in w]
    sub = args[0]
    r = runner.invoke(app, [sub, "--help"])
    assert r.exit_code == 0, (command, r.output)
    for w in args[1:]:
        if w.startswith("--"):
            assert w in r.output, (command, w)


def test_pre_commit_hooks():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert [h["id"] for h in hooks] == ["lawful-check", "lawful-fmt", "lawful-test"]
    for h in hooks:
        assert h["language"] == "python" and h["name"] and h["description"]
        _accepts(h["entry"])


def test_example_workflow_and_action():
    """The example workflow runs the action (and `lawful fmt`); the action runs check (SARIF and annotations),
    test (JUnit) and diff (Markdown) with options that exist."""
    wf = yaml.safe_load((ROOT / "examples" / "github-actions" / "lawful.yml").read_text(encoding="utf-8"))
    steps = wf["jobs"]["policy"]["steps"]
    assert any(str(s.get("uses", "")).endswith("/lawful@v0.1.0") for s in steps)
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    runs = "\n".join(s.get("run", "") for s in steps + action["runs"]["steps"])
    for needle in ("--format sarif", "--format github", "lawful fmt --check --diff", "lawful test", "--format junit",
                   "lawful diff", "--format markdown", "--link-base", "--fail-on"):
        assert needle in runs, needle
    uses = [s.get("uses", "") for s in action["runs"]["steps"]]
    assert any(u.startswith("github/codeql-action/upload-sarif") for u in uses)
    for line in runs.splitlines():
        line = line.strip().rstrip("\\").strip()
        if line.startswith("lawful "):
            _accepts(line.split(">")[0].split("||")[0])
