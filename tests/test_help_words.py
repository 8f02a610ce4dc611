"""Issue 15, plain words: `--help` of every command, and of the `can-share` script, shows no type labels
(`<str>`, `<list[Path]>`, `<bool>`, `<text|json>`), no braces in its usage line (`SOURCE`, not `{SOURCE}`) and
no Markdown backticks: an option shows its metavar (DATE, FORMAT), a flag nothing."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from cli import app

runner = CliRunner()
LABEL = re.compile(r"<[a-z][a-z|\[\]A-Z ]*>")  # <str>, <list[Path]>, <text|json>, <int range>


def _help_texts() -> list[tuple[str, list[str]]]:
    from typer.main import get_command

    group = get_command(app)
    out: list[tuple[str, list[str]]] = [("lawful", ["--help"])]
    for name, command in group.commands.items():
        subs = getattr(command, "commands", None)
        out += [(f"lawful {name} {sub}", [name, sub, "--help"]) for sub in subs] if subs else \
            [(f"lawful {name}", [name, "--help"])]
    return out


@pytest.mark.parametrize("name,args", _help_texts(), ids=lambda x: x if isinstance(x, str) else "")
def test_help_has_no_type_labels_and_no_backticks(name: str, args: list[str]):
    r = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    labels = LABEL.findall(r.stdout)
    assert not labels, f"{name} --help shows {labels}"
    assert "`" not in r.stdout, f"{name} --help quotes Markdown"
    usage = next(line for line in r.stdout.splitlines() if "Usage:" in line)
    assert "{" not in usage, usage  # `SOURCE`, not `{SOURCE}`


def test_the_can_share_script_help_too(capsys, monkeypatch):
    import cli

    monkeypatch.setattr("sys.argv", ["can-share", "--help"])
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit):
        cli.can_share_main()
    out = capsys.readouterr().out
    assert "Usage: can-share [OPTIONS] SOURCE RECIPIENT DATA" in out
    assert not LABEL.findall(out) and "`" not in out
    # what an option takes is still said, by its metavar; a flag takes nothing
    assert re.search(r"--format +-f +FORMAT ", out) and re.search(r"--on +DATE ", out), out
    assert re.search(r"--verbose +-v +Also list", out), out
    assert re.search(r"\* +SOURCE +The organisation", out), out
