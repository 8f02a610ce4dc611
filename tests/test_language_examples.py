"""Every policy example in docs/language.md (the language reference: the repository's copy of the language
contract) parses, and so does every policy example anywhere else in README.md and docs/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.syntax.parser import parse_text

ROOT = Path(__file__).resolve().parent.parent
_FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.S | re.M)
_DECLARATION = re.compile(
    r"^\s*(organisation|data|purpose|gateway|restriction|agreement|test|transfer|class|condition)\b", re.M)


def policy_blocks(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of each fenced block written in the policy language."""
    text = path.read_text(encoding="utf-8")
    out = []
    for m in _FENCE.finditer(text):
        lang, body = m.group(1), m.group(2)
        if lang and lang not in ("policy", "lawful"):
            continue  # yaml, sh, python, …
        if not _DECLARATION.search(body) or body.lstrip().startswith(("$", "can-share", "lawful ")):
            continue  # shell sessions and command usage
        out.append((text[: m.start()].count("\n") + 1, body))
    return out


LANGUAGE_MD = ROOT / "docs" / "language.md"
LANGUAGE = policy_blocks(LANGUAGE_MD)
# Policy text shown anywhere else in the documentation, as (file:line, text).
DOCS = [(f"{path.relative_to(ROOT)}:{line}", body)
        for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))] if path != LANGUAGE_MD
        for line, body in policy_blocks(path)]


def test_the_examples_are_found():
    # vocabulary, two gateways, restrictions, agreement, policy tests
    assert len(LANGUAGE) >= 6
    kinds = {k for _, body in LANGUAGE for k in _DECLARATION.findall(body)}
    assert kinds == {"organisation", "data", "purpose", "gateway", "restriction", "agreement", "test", "transfer",
                     "class", "condition"}


def test_docs_copy_matches_the_shared_contract_when_present():
    found = [p / "shared" / "LANGUAGE.md" for p in ROOT.parents if (p / "shared" / "LANGUAGE.md").is_file()]
    if not found:
        pytest.skip("no shared copy beside this checkout")
    # The repository's copy may add to the contract but must keep every example of it.
    ours = {body for _, body in LANGUAGE}
    for _, body in policy_blocks(found[0]):
        assert body in ours


@pytest.mark.parametrize("line,body", LANGUAGE, ids=[f"language.md:{n}" for n, _ in LANGUAGE])
def test_language_example_parses(line: int, body: str):
    # "At a glance" uses `…` placeholders in titles only; the rest is real syntax.
    parsed = parse_text(body, f"docs/language.md:{line}")
    assert parsed.items, "an example declares something"


def test_other_docs_examples_parse():
    # Policy text shown outside the language reference (none today; a guide may add some) parses too.
    for where, body in DOCS:
        assert parse_text(body, where).items, where
