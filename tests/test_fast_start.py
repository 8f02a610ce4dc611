"""`can-share` is `lawful can-share` as a one-command script (issue 6, issue 11 item 6): same output, same exit
code, the same usage errors; typer parses both (there is no second parser), and the start stays light because
the engine is imported only inside the command, as far as the command needs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli
from conftest import ROOT

runner = CliRunner()
CAN_SHARE = shutil.which("can-share", path=str(Path(sys.executable).parent)) or "can-share"

CASES = [
    ["JCP", "ALI", "provider-data", "--purpose", "inspection", "--on", "2005-06-23"],
    ["LSC", "ALI", "provider-data", "-p", "inspection", "--on=2005-06-23"],
    ["JCP", "ALI", "provider-data", "--purpose=inspection", "--on", "2005-06-23", "--assume", "DCA-GATEWAY-2006"],
    ["JCP", "ALI", "provider-data", "--purpose=inspection", "--on", "2005-06-23", "--assume=DCA-GATEWAY-2006"],
    ["LSC", "ALI", "provider-data", "--purpose", "inspection", "--on", "2005-06-23", "--format", "json"],
    ["LSC", "ALI", "provider-data", "--on", "2005-06-23", "-f", "text", "-v"],
    ["LSC", "ALI", "provider-data", "--on", "2005-06-23", "--format=json"],
    ["JCP", "ALI", "provider-data", "-vp", "inspection", "--on", "2005-06-23"],  # short flags joined
    ["JCP", "ALI", "provider-data", "-pinspection", "--on", "2005-06-23"],  # a short option's value joined
    ["JCP", "ALI", "provider-data", "-p", "funding", "-p", "inspection", "--on", "2005-06-23"],  # the last wins
    ["JCPX", "ALI", "provider-data", "--purpose", "inspection"],  # unknown name: exit 2
    ["JCP", "ALI", "provider-data", "--on", "2005-13-45"],  # bad date: exit 2
    ["JCP", "ALI", "provider-data", "-p=inspection"],  # `-p=x` is the purpose `=x`, as click reads it: exit 2
]


def run_script(argv: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["can-share", *argv])
    monkeypatch.delenv("LAWFUL_BUNDLE", raising=False)
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as exc:
        cli.can_share_main()
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.mark.parametrize("argv", CASES, ids=[" ".join(c) for c in CASES])
def test_the_script_answers_as_lawful_can_share(argv, capsys, monkeypatch):
    code, out, err = run_script(argv, capsys, monkeypatch)
    res = runner.invoke(cli.app, ["can-share", *argv])
    assert code == res.exit_code, (out, err)
    assert out == res.stdout
    assert err == res.stderr
    if code == 2:
        assert err.startswith("error[") and "Traceback" not in err, err
    else:
        assert out.strip()


@pytest.mark.parametrize("argv,message", [
    (["JCP", "ALI"], "Missing argument 'DATA'."),
    (["JCP", "ALI", "provider-data", "--purpose"], "Option '--purpose' requires an argument."),
    (["JCP", "ALI", "x", "--unknown", "y"], "No such option: --unknown"),
    (["JCP", "ALI", "provider-data", "--format", "yaml"], "Invalid value for '--format' / '-f'"),
    (["JCP", "ALI", "provider-data", "--verbose=yes"], "Option '--verbose' does not take a value."),
    (["JCP", "ALI", "provider-data", "--on"], "Option '--on' requires an argument."),
    (["JCP", "ALI", "--", "provider-data", "-p", "inspection"], "Got unexpected extra argument(s) (-p inspection)"),
])
def test_bad_usage_is_exit_2_with_a_one_line_message(argv, message, capsys, monkeypatch):
    code, out, err = run_script(argv, capsys, monkeypatch)
    assert code == 2 and out == "", out
    lines = err.splitlines()
    assert lines[0].startswith(f"error[bad-usage]: {message}"), err
    assert all(line.startswith("  help: ") for line in lines[1:]), err
    assert "can-share can-share" not in err


def test_help_is_exit_0_and_names_the_script_once(capsys, monkeypatch):
    code, out, _ = run_script(["--help"], capsys, monkeypatch)
    assert code == 0 and "can-share [OPTIONS] " in out and "can-share can-share" not in out
    for metavar in ("DATE", "PURPOSE", "STATUTE", "DIR", "FILE"):
        assert metavar in out, metavar
    # options say what their value is by a metavar, never by a type label (tests/test_help_words.py: all of them)
    assert not [line for line in out.splitlines() if "<str>" in line or "<path>" in line or "<list" in line]


def _imported_after(args: list[str]) -> set[str]:
    """Top-level packages a fresh process has imported after running the CLI with these arguments."""
    code = ("import sys\nsys.argv = ['lawful', *sys.argv[1:]]\nimport cli\ntry:\n    cli.app()\nexcept SystemExit:\n"
            "    pass\nsys.stderr.write('\\nMODULES ' + ' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n")
    env = {k: v for k, v in os.environ.items() if k != "LAWFUL_BUNDLE"}
    p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, env=env,
                       timeout=120)
    return set(p.stderr.rpartition("\nMODULES ")[2].split())


# A usage error escapes what was typed (engine.base.text, issue 19 item 5); nothing else of the engine loads.
_ESCAPING_ONLY = {"engine", "engine.base", "engine.base.text", "engine.base.version"}


def test_help_imports_no_engine():
    assert "engine" not in _imported_after(["can-share", "--help"])
    loaded = {m for m in _imported_after(["can-share", "JCP"]) if m.split(".")[0] == "engine"}  # a usage error
    assert loaded <= _ESCAPING_ONLY, loaded - _ESCAPING_ONLY


def test_a_decision_from_the_cache_imports_neither_parser_nor_graph_library():
    args = ["can-share", "JCP", "ALI", "provider-data", "--purpose", "inspection", "--on", "2005-06-23"]
    _imported_after(args)  # writes the compiled-bundle cache if needed
    mods = _imported_after(args)  # a DENY, which also searches fixes and routes
    assert "engine" in mods
    assert not mods & {"lark", "yaml", "jsonschema", "networkx", "click", "rich"}, mods & {
        "lark", "yaml", "jsonschema", "networkx", "click", "rich"}


def test_the_console_script_matches(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "LAWFUL_BUNDLE"}
    env["NO_COLOR"] = "1"
    args = ["JCP", "ALI", "provider-data", "--purpose", "inspection", "--on", "2005-06-23"]
    p = subprocess.run([CAN_SHARE, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    res = runner.invoke(cli.app, ["can-share", *args, "--bundle", str(ROOT)])
    assert p.returncode == res.exit_code == 1
    assert p.stdout == res.stdout and p.stderr == ""
