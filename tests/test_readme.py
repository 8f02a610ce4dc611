"""README stays true: it names every diagnostic code and every CLI command, and shows the two set-up commands."""

from __future__ import annotations

import re
from pathlib import Path

from engine.base.diagnostics import CODES

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_readme_lists_every_diagnostic_code():
    section = README[README.index("## Diagnostics"):]
    missing = [c for c in CODES if f"`{c}`" not in section]
    assert not missing, f"README's Diagnostics section does not name: {missing}"


def test_readme_documents_every_command():
    from typer.main import get_command

    from cli import app

    group = get_command(app)
    table = README[README.index("## CLI reference"):]
    for name, command in group.commands.items():
        subs = getattr(command, "commands", None)
        names = [f"lawful {name} {sub}" for sub in subs] if subs else [f"lawful {name}"]
        for full in names:
            assert f"`{full}" in table, f"README's CLI reference does not document `{full}`"


def test_readme_shows_the_two_setup_commands_near_the_top():
    top = README[:README.index("## What it is")]
    blocks = re.findall(r"```sh\n(.*?)```", top, re.S)
    assert any("can-share" in b and "pip install" in b for b in blocks)
    assert any("pytest" in b and "pip install" in b for b in blocks)
