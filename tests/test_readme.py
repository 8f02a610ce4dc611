"""The README and docs/ stay true: the README is one screen per audience with the two set-up commands at the top;
the review guide names every diagnostic code; the user guide documents every CLI command; every relative link
between the documents (and every #anchor into a Markdown file) resolves."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

from engine.base.diagnostics import CODES

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = ROOT / "docs"
DOCUMENTS = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def section(path: Path, heading: str) -> str:
    """The text of one `## heading` section of a Markdown file, up to the next `## ` heading."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def test_review_guide_lists_every_diagnostic_code():
    listed = section(DOCS / "review-guide.md", "Diagnostics")
    missing = [c for c in CODES if f"`{c}`" not in listed]
    assert not missing, f"docs/review-guide.md's Diagnostics section does not name: {missing}"


def test_user_guide_documents_every_command():
    from typer.main import get_command

    from cli import app

    group = get_command(app)
    table = section(DOCS / "user-guide.md", "CLI reference")
    for name, command in group.commands.items():
        subs = getattr(command, "commands", None)
        names = [f"lawful {name} {sub}" for sub in subs] if subs else [f"lawful {name}"]
        for full in names:
            assert f"`{full}" in table, f"docs/user-guide.md's CLI reference does not document `{full}`"


def test_readme_shows_the_two_setup_commands_near_the_top():
    top = README[:README.index("## What it is")]
    blocks = re.findall(r"```sh\n(.*?)```", top, re.S)
    assert any("can-share JCP ALI provider-data --purpose inspection --on 2005-06-23" in b and "pip install" in b
               for b in blocks)
    assert any("python -m pytest -q -p no:cacheprovider" in b and "pip install" in b for b in blocks)


def test_readme_is_one_screen_per_audience():
    assert len(README.splitlines()) <= 150, "README.md is a README: move detail into docs/"
    headings = re.findall(r"^## (.*)$", README, re.M)
    for audience in ("policy officers", "legal teams", "developers"):
        assert any(audience in h for h in headings), f"README has no section for {audience}"


def test_readme_links_every_guide():
    for name in ("user-guide", "review-guide", "language", "library", "operations", "architecture"):
        assert f"(docs/{name}.md)" in README, f"README does not link docs/{name}.md"


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for a Markdown file: each heading's slug (lower case, punctuation dropped, spaces to
    hyphens, repeats numbered), plus explicit `<a id="…">`."""
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    seen: dict[str, int] = {}
    out = set(re.findall(r'<a id="([^"]+)"', text))
    for heading in re.findall(r"^#{1,6} +(.*?) *#*$", text, re.M):
        plain = re.sub(r"<[^>]+>", "", heading.replace("`", "")).strip().lower()
        slug = "".join(ch for ch in plain if ch in "-_ " or unicodedata.category(ch)[0] in "LN").replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


LINK = re.compile(r"\]\(([^)\s]+)\)")


def links(path: Path) -> list[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    return [m for m in LINK.findall(text) if not re.match(r"[a-z]+:", m)]


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path):
    found = links(doc)
    assert doc.name != "README.md" or len(found) >= 6
    for link in found:
        target, _, anchor = unquote(link).partition("#")
        path = (doc.parent / target).resolve() if target else doc
        assert path.exists(), f"{doc.relative_to(ROOT)}: link to a missing file: {link}"
        if anchor and path.suffix == ".md":
            assert anchor in anchors(path), f"{doc.relative_to(ROOT)}: no heading #{anchor} in {target or doc.name}"


def test_anchor_slugs_follow_github():
    # The slug rule the link check relies on, on headings of the kinds these documents use.
    assert anchors(DOCS / "language.md") >= {"the-register-gatewaysyaml",
                                             "restrictions-what-the-law-forbids-deny-overrides",
                                             "sensitivity", "onward-sharing-and-routes"}
    assert "the-bundles-content-hash" in anchors(DOCS / "operations.md")
