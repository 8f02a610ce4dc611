"""Issue 19, item 2: `lawful diff` must not be made to hide changes by hostile file names.

The attack: revisions used to be read by writing `COMMIT:PATH` lines into `git cat-file --batch`. A committed
file whose name holds a newline turns one request into two, every later response lands on the wrong file,
and the last file's text is lost: a branch that adds an agreement allowing new flows diffed as "0 rule
changes", exit 0. Each test below commits hostile names in a real temporary git repository and runs the
real command.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import engine
import engine.review.diff
from cli import app
from conftest import ROOT
from engine.review.diff import brute_force

runner = CliRunner()
ON = "2005-06-23"

# An agreement that newly allows Ufi -> LSC flows of special-category personal data (the example of
# tests/test_diff.py).
NEW_AGREEMENT = """
agreement UFI-LSC-ILR-2004 "ILR returns from learndirect, 2004/05" {
  from Ufi to LSC
  data individualised-learner-record
  for planning
  under LSC-FUNDING-CONDITIONS
  lawful-basis public-task
  article-9 "dpa1998-sch3-7"
  valid 2004-08-01 to 2005-07-31
  review 2005-04-01
  owner "Director of Funding and Information, Learning and Skills Council"
  onward none
}
"""

HOSTILE = {
    "newline": b"0\n.policy",
    "carriage-return": b"0\r.policy",
    "escape": b"0\x1b[2K\x1b[1A.policy",
    "tab": b"0\t.policy",
    "bidi-override": "0\u202egnp.policy".encode("utf-8"),
    "not-utf8": b"0\xff.policy",
}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True).stdout.decode("utf-8", "replace")


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """A git repository holding the default bundle on `main`."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "gateways.yaml", repo / "gateways.yaml")
    shutil.copytree(ROOT / "policies", repo / "policies")
    monkeypatch.setenv("HOME", str(repo))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for k, v in (("GIT_AUTHOR_NAME", "t"), ("GIT_AUTHOR_EMAIL", "t@example.org"), ("GIT_COMMITTER_NAME", "t"),
                 ("GIT_COMMITTER_EMAIL", "t@example.org")):
        monkeypatch.setenv(k, v)
    _git(repo, "init", "-q")
    _git(repo, "symbolic-ref", "HEAD", "refs/heads/main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "the default bundle")
    monkeypatch.chdir(repo)
    return repo


def _commit_branch(repo: Path, branch: str, files: dict[bytes, str]) -> None:
    """On a new branch from main, add files (names as raw bytes, under policies/) and commit them."""
    _git(repo, "checkout", "-q", "-b", branch, "main")
    for name, text in files.items():
        path = os.path.join(os.fsencode(repo / "policies"), name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", f"{branch}")
    _git(repo, "checkout", "-q", "main")
    for name in files:  # leave the work tree clean of the hostile names: the diff reads objects only
        path = os.path.join(os.fsencode(repo / "policies"), name)
        if os.path.lexists(path):
            os.unlink(path)


def _expected_flows(tmp_path: Path) -> set:
    """The flows the new agreement really changes, by brute force over folders."""
    new_dir = tmp_path / "expected"
    new_dir.mkdir()
    shutil.copy(ROOT / "gateways.yaml", new_dir / "gateways.yaml")
    shutil.copytree(ROOT / "policies", new_dir / "policies")
    (new_dir / "policies" / "zz-new.policy").write_text(NEW_AGREEMENT, encoding="utf-8")
    day = dt.date.fromisoformat(ON)
    return brute_force(engine.load(ROOT), engine.load(new_dir), day)


def test_the_reported_attack_a_newline_name_cannot_hide_new_flows(repo):
    """The issue's attack: a newline in an earlier file's name used to shift every later blob by one, so the
    agreement in the last file vanished and the diff said "0 rule changes", exit 0."""
    _commit_branch(repo, "feature", {HOSTILE["newline"]: "# nothing to see\n", b"zz-new.policy": NEW_AGREEMENT})
    r = runner.invoke(app, ["diff", "main", "feature", "--on", ON])
    assert r.exit_code == 2, r.output
    assert "error[bad-file-name]" in r.output
    assert "0 rule changes" not in r.output and "no change" not in r.output.lower()
    # The name is shown escaped: the newline never reaches the terminal raw.
    assert "policies/0\\x0a.policy" in r.output
    # Either side: the hostile name on the OLD side is refused too.
    r = runner.invoke(app, ["diff", "feature", "main", "--on", ON])
    assert r.exit_code == 2 and "error[bad-file-name]" in r.output, r.output


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_every_hostile_policy_file_name_is_refused_at_a_revision_and_in_a_folder(repo, kind):
    name = HOSTILE[kind]
    _commit_branch(repo, "feature", {name: "# hostile\n", b"zz-new.policy": NEW_AGREEMENT})
    r = runner.invoke(app, ["diff", "main", "feature", "--on", ON, "--format", "json"])
    assert r.exit_code == 2, r.output
    assert [e["code"] for e in json.loads(r.output)["errors"]] == ["bad-file-name"]  # JSON asked, JSON errors
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u202e]", r.output), repr(r.output)  # nothing raw on screen
    r = runner.invoke(app, ["diff", "main", "feature", "--on", ON])
    assert r.exit_code == 2 and "error[bad-file-name]" in r.output, r.output
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u202e]", r.output), repr(r.output)
    # The same file in a bundle folder is refused by every command that loads it (for check, a finding: exit 1).
    _git(repo, "checkout", "-q", "feature")
    r = runner.invoke(app, ["check", "--bundle", str(repo)])
    assert r.exit_code == 1 and "error[bad-file-name]" in r.output, r.output
    r = runner.invoke(app, ["can-share", "DfES", "HEFCE", "individual-pupil-information", "--purpose", "planning",
                            "--on", ON, "--bundle", str(repo)])
    assert r.exit_code == 2 and "ALLOWED" not in r.output, r.output


def test_hostile_names_outside_the_bundle_files_cannot_shift_what_is_read(repo, tmp_path):
    """Files that are not bundle files may have any name; they are never read, and cannot move another file's
    text onto a different name: the diff finds exactly the flows the new agreement changes."""
    _commit_branch(repo, "feature", {
        b"0\n.txt": "policies/agreements.policy\n",  # a name that, written into a line protocol, is two requests
        b"0\nHEAD:gateways.yaml": "x\n",
        b"zz-new.policy": NEW_AGREEMENT,
    })
    r = runner.invoke(app, ["diff", "main", "feature", "--on", ON, "--format", "json"])
    assert r.exit_code == 1, r.output
    import json

    out = json.loads(r.output)
    got = {(f["source"].lower(), f["recipient"].lower(), f["data"].lower(), f["purpose"].lower()) for f in out["flows"]}
    assert got == _expected_flows(tmp_path) and got
    assert [c["id"] for c in out["changes"]] == ["UFI-LSC-ILR-2004"]


def test_cat_file_is_only_ever_asked_for_object_ids(repo, monkeypatch):
    """Structural: every line written to git's stdin is a bare object id, so no name can be a request."""
    _commit_branch(repo, "feature", {b"zz-new.policy": NEW_AGREEMENT, b"a b:c HEAD.policy": "# odd but legal\n"})
    seen: list[bytes] = []
    real = engine.review.diff._git

    def spy(args, cwd, input_=None):
        if input_ is not None:
            seen.append(input_)
        return real(args, cwd, input_)

    monkeypatch.setattr(engine.review.diff, "_git", spy)
    policies, register = engine.review.diff.read_revision("feature", repo, repo)
    assert "policies/zz-new.policy" in policies and "policies/a b:c HEAD.policy" in policies
    assert policies["policies/zz-new.policy"] == NEW_AGREEMENT
    assert register == (ROOT / "gateways.yaml").read_text(encoding="utf-8")
    assert seen and all(re.fullmatch(rb"([0-9a-f]{40}\n)+", s) for s in seen), seen


def test_a_symlink_committed_as_a_policy_file_is_not_read(repo):
    _git(repo, "checkout", "-q", "-b", "feature", "main")
    os.symlink("/etc/passwd", repo / "policies" / "zz-link.policy")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "a link")
    _git(repo, "checkout", "-q", "main")
    r = runner.invoke(app, ["diff", "main", "feature", "--on", ON])
    assert r.exit_code == 2 and "error[unsafe-path]" in r.output and "symbolic link" in r.output, r.output
