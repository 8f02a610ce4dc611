"""The `can-share` console script (engine/commands/entry.py) reads the plain forms of its command line without
typer (issue 18): its reading comes from cli.py's typer declaration (a generated file, checked current here),
every command line it reads gives the command exactly the arguments typer gives it, everything else goes to
typer, and the answer's path imports neither typer nor networkx."""

from __future__ import annotations

import gc
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import cli
from conftest import ROOT
from engine.commands import can_share_args, decide, entry
from engine.commands.result import Result

runner = CliRunner()


def test_the_generated_parameters_are_those_typer_builds_from_cli_py():
    assert cli.CAN_SHARE_ARGS.read_text(encoding="utf-8") == cli.can_share_args_source(), (
        "engine/commands/can_share_args.py is stale: python -c 'import cli; cli.write_can_share_args()'")


# ---- the same arguments as typer ---------------------------------------------------------------------


SIGNATURE = inspect.signature(decide.can_share)


def _bound(args: tuple, kwargs: dict) -> dict:
    return dict(SIGNATURE.bind(*args, **kwargs).arguments)


def _typer_arguments(argv: list[str]) -> dict | None:
    """What typer passes to the command for `can-share ARGV` (None: a usage error, or help)."""
    seen: list[dict] = []

    def record(*args, **kwargs):
        seen.append(_bound(args, kwargs))
        return Result()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(decide, "can_share", record)
        with pytest.raises(SystemExit):
            mp.setattr(sys, "argv", ["can-share", *argv])
            cli.can_share_main()
    return seen[0] if seen else None


def _fast_arguments(argv: list[str]) -> dict | None:
    kwargs = entry.plain_arguments(argv, can_share_args.PARAMS, os.environ)
    return None if kwargs is None else _bound((), {**kwargs, "colour": False})


PLAIN = [
    ["JCP", "ALI", "provider-data", "--purpose", "inspection", "--on", "2005-06-23"],
    ["LSC", "ALI", "provider-data", "-p", "inspection", "--on=2005-06-23"],
    ["JCP", "ALI", "provider-data", "--purpose=inspection", "--assume", "A", "--assume=B", "--given", "C"],
    ["--on", "2005-06-23", "JCP", "-v", "ALI", "--format", "json", "provider-data", "-f", "text"],
    ["JCP", "ALI", "provider-data", "-p", "funding", "-p", "inspection", "--bundle", "some/dir"],
    ["JCP", "ALI", "provider-data", "--express-only", "--own-data", "--received-under", "G", "--held-for", "F"],
    ["JCP", "ALI", "provider-data", "--audit-log", "log.jsonl", "--audit-key", "k.key", "--verbose"],
]
NOT_PLAIN = [
    ["JCP", "ALI"], ["JCP", "ALI", "provider-data", "extra"], ["--help"], ["-h"],
    ["JCP", "ALI", "provider-data", "--purpose"], ["JCP", "ALI", "--", "provider-data"],
    ["JCP", "ALI", "provider-data", "-vp", "inspection"], ["JCP", "ALI", "provider-data", "-pinspection"],
    ["JCP", "ALI", "provider-data", "-p=inspection"], ["JCP", "ALI", "provider-data", "--format", "yaml"],
    ["JCP", "ALI", "provider-data", "--verbose=yes"], ["JCP", "ALI", "provider-data", "--purp", "inspection"],
    ["JCP", "ALI", "", "-p", "x"], ["JCP", "ALI", "provider-data", "-p", "-x"], ["-1", "ALI", "provider-data"],
]


@pytest.mark.parametrize("argv", PLAIN, ids=" ".join)
def test_plain_forms_are_read_as_typer_reads_them(argv, monkeypatch):
    monkeypatch.delenv("LAWFUL_AUDIT_KEY", raising=False)
    fast = _fast_arguments(argv)
    assert fast is not None, "a plain form must not need typer"
    assert fast == _typer_arguments(argv)


@pytest.mark.parametrize("argv", NOT_PLAIN, ids=" ".join)
def test_other_forms_go_to_typer(argv):
    assert entry.plain_arguments(argv, can_share_args.PARAMS, {}) is None


@pytest.mark.parametrize("key", [None, "", "from-env.key"])
def test_the_audit_key_variable_is_read_as_click_reads_it(key, monkeypatch):
    argv = ["JCP", "ALI", "provider-data", "--audit-log", "log.jsonl"]
    if key is None:
        monkeypatch.delenv("LAWFUL_AUDIT_KEY", raising=False)
    else:
        monkeypatch.setenv("LAWFUL_AUDIT_KEY", key)
    fast = _fast_arguments(argv)
    assert fast is not None and fast == _typer_arguments(argv)
    assert fast["audit_key"] == (Path(key) if key else None)


WORDS = ["JCP", "ALI", "provider-data", "inspection", "json", "text", "2005-06-23", "a b", "x=y", "ünï", "some/dir",
         "-", "--", "", "-1", "-x", "--purp", "-vp", "-pinspection", "-p=inspection", "--verbose=yes", "--bundle="]
VALUES = ["inspection", "json", "text", "yaml", "2005-06-23", "some/dir", "a=b", "a b", "", "-x", "--on"]
FLAGS = [s for p in can_share_args.PARAMS if p[3] == "flag" for s in p[2]]
VALUED = [s for p in can_share_args.PARAMS if not p[1] and p[3] != "flag" for s in p[2]]


@st.composite
def command_lines(draw) -> list[str]:
    """Mostly well-formed command lines (three words, options with values in any order), with odd tokens."""
    groups = [[w] for w in draw(st.lists(st.sampled_from(WORDS[:11]), min_size=2, max_size=4))]
    for _ in range(draw(st.integers(0, 5))):
        spelling = draw(st.sampled_from(VALUED + FLAGS))
        if spelling in FLAGS:
            groups.append([spelling])
        elif spelling.startswith("--") and draw(st.booleans()):
            groups.append([f"{spelling}={draw(st.sampled_from(VALUES))}"])
        else:
            groups.append([spelling, draw(st.sampled_from(VALUES))])
    if draw(st.integers(0, 3)) == 0:
        groups.append([draw(st.sampled_from(WORDS))])
    return [token for group in draw(st.permutations(groups)) for token in group]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command_lines(), st.sampled_from([None, "", "k.key"]))
def test_whatever_the_fast_path_reads_typer_reads_the_same(argv, key):
    with pytest.MonkeyPatch.context() as mp:
        if key is None:
            mp.delenv("LAWFUL_AUDIT_KEY", raising=False)
        else:
            mp.setenv("LAWFUL_AUDIT_KEY", key)
        fast = _fast_arguments(argv)
        if fast is not None:
            assert fast == _typer_arguments(argv)


# ---- the console script: same output and exit code, either way -------------------------------------------


SCRIPT_CASES = [
    PLAIN[0], PLAIN[1], ["LSC", "ALI", "provider-data", "--on", "2005-06-23", "-f", "json"],
    ["JCPX", "ALI", "provider-data", "-p", "inspection"],  # plain, an unknown name: exit 2
    ["JCP", "ALI", "provider-data", "--on", "2005-13-45"],  # plain, a bad date: exit 2
    ["JCP", "ALI", "provider-data", "-vp", "inspection", "--on", "2005-06-23"],  # typer's
    ["JCP", "ALI"], ["--help"],
]


@pytest.mark.parametrize("argv", SCRIPT_CASES, ids=" ".join)
def test_the_script_answers_as_lawful_can_share(argv, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["can-share", *argv])
    monkeypatch.delenv("LAWFUL_BUNDLE", raising=False)
    monkeypatch.setattr(gc, "freeze", lambda: None)  # not this test process's collector
    monkeypatch.setattr(gc, "disable", lambda: None)
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as exc:
        entry.can_share_main()
    out = capsys.readouterr()
    if argv == ["--help"]:
        assert exc.value.code == 0 and "can-share [OPTIONS] " in out.out
        return
    if argv == ["JCP", "ALI"]:  # typer's usage error, as the script has always written it
        assert exc.value.code == 2 and out.err.startswith("error[bad-usage]: Missing argument 'DATA'.")
        return
    res = runner.invoke(cli.app, ["can-share", *argv])
    assert (exc.value.code, out.out, out.err) == (res.exit_code, res.stdout, res.stderr)


# ---- what the answer's path imports -----------------------------------------------------------------


def _imported_by_script(args: list[str]) -> set[str]:
    """Top-level packages a fresh `can-share ARGS` process has imported when it exits."""
    code = ("import sys\nsys.argv = ['can-share', *sys.argv[1:]]\nfrom engine.commands.entry import can_share_main\n"
            "try:\n    can_share_main()\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write('\\nMODULES ' + ' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n")
    env = {k: v for k, v in os.environ.items() if k != "LAWFUL_BUNDLE"}
    p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, env=env,
                       timeout=120)
    return set(p.stderr.rpartition("\nMODULES ")[2].split())


HEAVY = {"networkx", "typer", "click", "pydantic", "rich", "lark", "yaml", "jsonschema"}


@pytest.mark.parametrize("source", ["JCP", "LSC"], ids=["DENY (fixes and routes searched)", "ALLOW"])
def test_the_answer_imports_neither_typer_nor_networkx(source):
    args = [source, "ALI", "provider-data", "--purpose", "inspection", "--on", "2005-06-23"]
    _imported_by_script(args)  # writes the compiled-bundle cache if needed
    mods = _imported_by_script(args)
    assert "engine" in mods
    assert not mods & HEAVY, mods & HEAVY


def test_help_still_comes_from_typer():
    assert "typer" in _imported_by_script(["--help"])
