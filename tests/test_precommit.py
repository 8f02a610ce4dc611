"""Issue 16, item 6: the pre-commit hooks of .pre-commit-hooks.yaml, run by a real `pre-commit run` in a
temporary git repository made from the default bundle, with lawful installed by pre-commit from this
repository (at its HEAD commit) as any policy repository would get it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

PRE_COMMIT = shutil.which("pre-commit", path=str(Path(sys.executable).parent)) or shutil.which("pre-commit")


def _run(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def hooks(tmp_path_factory):
    if PRE_COMMIT is None:
        pytest.skip("pre-commit is not installed (it is in the test extra)")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("the lawful checkout is not a git repository, so pre-commit cannot install it")
    tmp = tmp_path_factory.mktemp("pre-commit")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAWFUL_BUNDLE", "PRE_COMMIT", "VIRTUAL_ENV"))}
    env.update(PRE_COMMIT_HOME=str(tmp / "home"), HOME=str(tmp), GIT_CONFIG_NOSYSTEM="1", NO_COLOR="1",
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.org")
    # The hooks are those of HEAD: the test runs what a policy repository pinned to this commit would run.
    committed = subprocess.run(["git", "show", "HEAD:.pre-commit-hooks.yaml"], cwd=ROOT, capture_output=True, text=True)
    assert committed.returncode == 0, "HEAD has no .pre-commit-hooks.yaml"
    return tmp, env, head.stdout.strip()


def make_repo(base: Path, env: dict, rev: str) -> Path:
    repo = base
    repo.mkdir(parents=True)
    for name in ("gateways.yaml", "lawful.toml"):
        shutil.copy(ROOT / name, repo / name)
    shutil.copytree(ROOT / "policies", repo / "policies")
    shutil.copytree(ROOT / "tests" / "policy", repo / "tests" / "policy")
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {ROOT.as_posix()}\n    rev: {rev}\n    hooks:\n"
        "      - id: lawful-check\n      - id: lawful-fmt\n      - id: lawful-test\n", encoding="utf-8")
    assert _run(["git", "init", "-q"], repo, env).returncode == 0
    assert _run(["git", "add", "-A"], repo, env).returncode == 0
    return repo


def run_hooks(repo: Path, env: dict) -> tuple[int, str]:
    subprocess.run(["git", "add", "-A"], cwd=repo, env=env, check=True)
    p = _run([PRE_COMMIT, "run", "--all-files"], repo, env)
    return p.returncode, p.stdout + p.stderr


def status(output: str, hook: str) -> str:
    line = next(ln for ln in output.splitlines() if ln.startswith(hook + "."))
    return line.rsplit(".", 1)[-1].strip()


def test_the_hooks_pass_on_the_default_bundle(hooks):
    tmp, env, rev = hooks
    repo = make_repo(tmp / "clean", env, rev)
    code, out = run_hooks(repo, env)
    assert code == 0, out
    assert [status(out, h) for h in ("lawful check", "lawful fmt", "lawful test")] == ["Passed"] * 3, out


def test_each_hook_fails_on_its_own_problem(hooks):
    tmp, env, rev = hooks
    repo = make_repo(tmp / "broken", env, rev)
    # lawful fmt: a file out of the canonical layout is rewritten, and the hook fails
    path = repo / "policies" / "purposes.policy"
    messy = path.read_text(encoding="utf-8").replace('purpose funding "', 'purpose   funding    "', 1)
    path.write_text(messy, encoding="utf-8")
    code, out = run_hooks(repo, env)
    assert code == 1 and status(out, "lawful fmt") == "Failed", out
    assert status(out, "lawful check") == "Passed" and status(out, "lawful test") == "Passed", out
    assert "files were modified by this hook" in out
    assert path.read_text(encoding="utf-8") != messy  # rewritten in place
    # lawful test: a flipped expectation fails with the decision's explanation
    t = repo / "tests" / "policy" / "sector.policy"
    text = t.read_text(encoding="utf-8")
    flipped = text.replace("expect deny DfES -> ALI provider-data", "expect allow DfES -> ALI provider-data", 1)
    assert flipped != text
    t.write_text(flipped, encoding="utf-8")
    code, out = run_hooks(repo, env)
    assert code == 1 and status(out, "lawful test") == "Failed" and "FAILED" in out, out
    t.write_text(text, encoding="utf-8")
    # lawful check: an unknown name is an error (exit 1: a finding)
    o = repo / "policies" / "organisations.policy"
    o.write_text(o.read_text(encoding="utf-8") + 'organisation X "x" part-of Nowhere\n', encoding="utf-8")
    code, out = run_hooks(repo, env)
    assert code == 1 and status(out, "lawful check") == "Failed", out
    assert "error[unknown-name]: unknown organisation `Nowhere`" in out and "exit code: 1" in out, out
