"""`can-share` reads its plain arguments without typer's parser (issue 6); it must behave exactly as
`lawful can-share` does — same output, same exit code — and hand anything unusual to typer."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

import cli

runner = CliRunner()

CASES = [
    ["JCP", "ALI", "provider-data", "--purpose", "inspection", "--on", "2005-06-23"],
    ["LSC", "ALI", "provider-data", "-p", "inspection", "--on=2005-06-23"],
    ["JCP", "ALI", "provider-data", "--purpose=inspection", "--on", "2005-06-23", "--assume", "DCA-GATEWAY-2006"],
    ["LSC", "ALI", "provider-data", "--purpose", "inspection", "--on", "2005-06-23", "--format", "json"],
    ["LSC", "ALI", "provider-data", "--on", "2005-06-23", "-f", "text", "-v"],
    ["JCPX", "ALI", "provider-data", "--purpose", "inspection"],  # unknown name: exit 2
    ["JCP", "ALI", "provider-data", "--on", "2005-13-45"],  # bad date: exit 2
]


def run_fast(argv: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["can-share", *argv])
    with pytest.raises(SystemExit) as exc:
        cli.can_share_main()
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.mark.parametrize("argv", CASES, ids=[" ".join(c) for c in CASES])
def test_fast_path_matches_typer(argv, capsys, monkeypatch):
    assert cli._fast_can_share_args(argv) is not None
    code, out, err = run_fast(argv, capsys, monkeypatch)
    res = runner.invoke(cli.app, ["can-share", *argv])
    assert code == res.exit_code
    assert out == res.stdout
    if code == 2:
        assert err.strip()


@pytest.mark.parametrize("argv", [
    ["--help"], ["JCP", "ALI"], ["JCP", "ALI", "provider-data", "--purpose"], ["JCP", "ALI", "x", "--unknown", "y"],
    ["JCP", "ALI", "provider-data", "--format", "yaml"], ["JCP", "ALI", "provider-data", "-p", "a", "-p", "b"],
    ["JCP", "ALI", "provider-data", "-p=inspection"], ["JCP", "ALI", "provider-data", "-vp", "inspection"],
    ["JCP", "ALI", "provider-data", "--verbose=yes"], ["JCP", "ALI", "--", "provider-data"],
])
def test_unusual_arguments_go_to_typer(argv):
    assert cli._fast_can_share_args(argv) is None
