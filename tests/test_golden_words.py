"""Issue 15, plain words: what a policy officer reads at the terminal, kept as golden files.

tests/golden/COMMANDS lists the commands (the README's story and one of each kind of answer, fix and listing);
tests/golden/<slug>.txt holds each one's exact output and exit code. A change of wording shows up here as a
diff to read and accept deliberately: `LAWFUL_UPDATE_GOLDEN=1 pytest tests/test_golden_words.py` rewrites the
files. Every golden output is also held to the officer's vocabulary: no Markdown backticks, none of the
developer's words the words were chosen to replace ("considered", "onward", "bundle", "enact the proposed
statute", "provenance"), and no fix that is not an action. The README's and the user guide's example
outputs are the golden outputs (with `…` where they leave something out).
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli import app
from conftest import MINI_REGISTER, ROOT, write_bundle

GOLDEN = Path(__file__).parent / "golden"
SPEC = Path(__file__).parent / "spec"
UPDATE = os.environ.get("LAWFUL_UPDATE_GOLDEN") == "1"
runner = CliRunner()

# Words a developer would use and an officer should not have to read (the glossary in docs/user-guide.md
# explains the ones chosen instead).
DEVELOPER_WORDS = re.compile(r"`|\bconsidered\b|\bonward\b|\bbundle\b|\benact the\b|\bprovenance\b|<str>|<list")


def commands() -> list[tuple[str, str]]:
    """(spec file or "", command line) for each line of tests/golden/COMMANDS."""
    out = []
    for line in (GOLDEN / "COMMANDS").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        spec, _, command = line.partition(" ") if line.startswith("@") else ("", "", line)
        out.append((spec.lstrip("@"), command))
    return out


def slug(spec: str, command: str) -> str:
    text = (Path(spec).stem + " " if spec else "") + command
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")


def run(command: str, where: Path, monkeypatch) -> str:
    """The command's standard output and exit code, run in `where` as a person at a terminal would (no colour:
    the runner is not a terminal), in the golden files' shape: `$ command`, the output, `[exit N]`."""
    monkeypatch.chdir(where)
    monkeypatch.delenv("LAWFUL_BUNDLE", raising=False)
    words = shlex.split(command)
    args = words[1:] if words[0] == "lawful" else words  # `can-share …` is `lawful can-share …`
    r = runner.invoke(app, args)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return f"$ {command}\n{r.stdout.rstrip()}\n[exit {r.exit_code}]\n"


def bundle_of(spec: str, tmp_path: Path) -> Path:
    if not spec:
        return ROOT
    text = yaml.safe_load((SPEC / spec).read_text(encoding="utf-8"))
    policies = text.get("policies") or {"main.policy": text["policy"]}
    return write_bundle(tmp_path / "bundle", policies, text.get("register", MINI_REGISTER))


CASES = commands()


@pytest.mark.parametrize("spec,command", CASES, ids=[slug(s, c) for s, c in CASES])
def test_golden_output(spec: str, command: str, tmp_path, monkeypatch):
    got = run(command, bundle_of(spec, tmp_path), monkeypatch)
    path = GOLDEN / f"{slug(spec, command)}.txt"
    if UPDATE:
        path.write_text(got, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: LAWFUL_UPDATE_GOLDEN=1 writes it"
    assert got == path.read_text(encoding="utf-8"), f"{path.name} changed: read the diff, then " \
                                                    "LAWFUL_UPDATE_GOLDEN=1 to accept it"


def test_every_golden_file_has_its_command():
    wanted = {f"{slug(s, c)}.txt" for s, c in CASES}
    stale = sorted(p.name for p in GOLDEN.glob("*.txt") if p.name not in wanted)
    assert not stale, f"golden files no command makes: {stale}"


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.txt")), ids=lambda p: p.stem)
def test_golden_outputs_are_in_an_officers_words(path: Path):
    text = path.read_text(encoding="utf-8")
    body = text.split("\n", 1)[1]  # the `$ command` line names options, which are the command's own words
    bad = [line for line in body.splitlines()
           if DEVELOPER_WORDS.search(line.replace("--bundle", ""))]
    assert not bad, f"{path.name}: {bad}"
    fixes = body.split("what would make it lawful:\n", 1)
    if len(fixes) == 2:  # every fix is an action or a what-if, starting with a capital, never a bare option
        for line in fixes[1].splitlines():
            if not line.startswith("  - "):
                break
            assert line[4].isupper(), line


# ---- the documents show the golden outputs ---------------------------------------------------------------


def _doc_examples() -> list[tuple[str, str, str]]:
    """(document, command, shown output) for each fenced block of README.md and docs/user-guide.md that
    starts with `$ COMMAND` for a command with a golden file."""
    goldens = {c: slug("", c) for s, c in CASES if not s}
    out = []
    for doc in (ROOT / "README.md", ROOT / "docs" / "user-guide.md"):
        for block in re.findall(r"^```\n(\$ .*?)^```", doc.read_text(encoding="utf-8"), re.S | re.M):
            command = block.split("\n", 1)[0][2:].strip()
            if command in goldens:
                out.append((doc.name, command, block))
    return out


def _shown_pattern(block: str) -> re.Pattern:
    """A shown output as a pattern: `…` stands for text left out (a line of its own: any lines)."""
    parts = []
    for line in block.rstrip("\n").split("\n"):
        if line.strip() == "…":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(p) for p in line.split("…")) + r"\n")
    return re.compile("".join(parts))


DOC_EXAMPLES = _doc_examples()


def test_the_documents_show_examples_of_golden_outputs():
    assert {doc for doc, _c, _b in DOC_EXAMPLES} == {"README.md", "user-guide.md"}


@pytest.mark.parametrize("doc,command,block", DOC_EXAMPLES, ids=[f"{d}:{c}" for d, c, _ in DOC_EXAMPLES])
def test_a_documents_example_is_the_golden_output(doc: str, command: str, block: str):
    golden = (GOLDEN / f"{slug('', command)}.txt").read_text(encoding="utf-8")
    output = golden.rsplit("[exit", 1)[0]  # the documents leave out the exit code
    assert _shown_pattern(block).fullmatch(output), f"{doc} shows an output `{command}` no longer gives:\n{block}"
