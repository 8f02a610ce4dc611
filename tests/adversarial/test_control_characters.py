"""Issue 19, item 5 (and item 2's file names): what a terminal shows must be what the bundle says.

The attack: a title holding `ESC [1A ESC [2K` (cursor up, clear line) followed by "ALLOWED" overwrote a
DENY's headline on a terminal; a carriage return did the same even through a pipe; a bidirectional override
reorders what is shown. Now every control character or bidirectional control in a bundle is refused at load
(`control-character`, at its exact line and column), names and values from outside the bundle (questions,
transfer logs, paths) are escaped on every text output, and look-alike organisation names are flagged
(`confusable-name`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import engine
from cli import app
from conftest import ROOT, write_bundle
from victim import lawful

POLICY = """\
organisation LSC "Learning and Skills Council"
organisation ALI "{title}"
data provider-data "Provider data"
purpose inspection "Inspection"
gateway LSC-INSPECTION "LSC may give provider data to inspectorates" {{
  statute LSA-2000 "section 1"
  allows LSC -> ALI
  data provider-data
  for inspection
}}
restriction BAR "A bar" {{
  statute LSA-2000 "section 2"
  forbids LSC -> ALI
}}
"""

ASK = ["can-share", "LSC", "ALI", "provider-data", "--purpose", "inspection", "--on", "2005-06-23"]

# What must never reach a terminal raw: every unsafe character except the line feed and tab of normal output.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def raw_controls(text: str) -> list[str]:
    return RAW.findall(text)


HOSTILE_TITLES = {
    "cursor-up-clear-line": "Adult Learning\x1b[1A\x1b[2K\rALLOWED  LSC -> ALI",
    "carriage-return": "Adult Learning Inspectorate\rALLOWED",
    "c1-csi": "Adult \x9b2K Inspectorate",
    "delete": "Adult\x7f Inspectorate",
    "bidi-override": "Adult \u202eetarotcepsnI gninraeL",
    "bidi-isolate": "Adult \u2066Learning\u2069",
    "nul": "Adult\x00",
    "line-separator": "Adult\u2028ALLOWED",
}


@pytest.mark.parametrize("title", list(HOSTILE_TITLES.values()), ids=list(HOSTILE_TITLES))
def test_a_hostile_title_is_refused_at_its_exact_column_and_never_printed_raw(tmp_path, title):
    root = write_bundle(tmp_path / "b", {"main.policy": POLICY.format(title=title)})
    p = lawful([*ASK, "--bundle", str(root)], tmp_path)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "ALLOWED" not in p.stdout and p.stdout == ""
    bad = next(i for i, ch in enumerate(title) if RAW.match(ch))
    column = len('organisation ALI "') + bad + 1
    assert f"policies/main.policy:2:{column}: error[control-character]" in p.stderr, p.stderr
    assert raw_controls(p.stderr) == [], repr(p.stderr)
    with pytest.raises(engine.DiagnosticsError) as exc:
        engine.load(root)
    assert any(d.code == "control-character" and d.span.line == 2 and d.span.column == column
               for d in exc.value.diagnostics)


def test_control_characters_in_aliases_owners_notes_and_comments_are_refused(tmp_path):
    text = POLICY.format(title="Adult Learning Inspectorate") + (
        'organisation JCP "Jobcentre Plus" aka "J\u202eCP"\n'
        '# a comment with a hidden \u2067 isolate\n'
        'agreement A "a" {\n  from LSC to ALI\n  data provider-data\n  for inspection\n'
        '  under LSC-INSPECTION\n  owner "Data\x1b[8m team"\n  note "x\x85y"\n}\n')
    root = write_bundle(tmp_path / "b", {"main.policy": text})
    with pytest.raises(engine.DiagnosticsError) as exc:
        engine.load(root)
    spans = {(d.span.line, d.span.column) for d in exc.value.diagnostics if d.code == "control-character"}
    lines = text.split("\n")
    expected = {(i + 1, j + 1) for i, line in enumerate(lines) for j, ch in enumerate(line) if RAW.match(ch)}
    assert spans == expected and len(expected) == 4


def test_register_values_are_checked_raw_and_escaped(tmp_path):
    from conftest import MINI_REGISTER

    reg = MINI_REGISTER.replace("title: Social Security Administration Act 1992",
                                'title: "Social Security\\e[2K Act"')
    reg += "# a comment \u202e hiding something\n"
    root = write_bundle(tmp_path / "b", {"main.policy": POLICY.format(title="Adult Learning Inspectorate")}, reg)
    p = lawful(["check", "--bundle", str(root)], tmp_path)
    assert p.returncode == 1  # findings in the bundle's files (issue 16's exit codes)
    assert "gateways.yaml:3:12: error[control-character]: an escape in this value makes control character U+001B" \
        in p.stdout, p.stdout
    assert re.search(r"gateways.yaml:\d+:13: error\[control-character\]: control character U\+202E", p.stdout), p.stdout
    assert raw_controls(p.stdout + p.stderr) == []


def test_crlf_line_ends_and_tabs_are_fine(tmp_path):
    text = POLICY.format(title="Adult\tLearning Inspectorate").replace("\n", "\r\n")
    root = write_bundle(tmp_path / "b", {"main.policy": text})
    engine.load(root)


def test_a_file_name_with_an_escape_sequence_is_refused_and_shown_escaped(tmp_path):
    root = write_bundle(tmp_path / "b", {"main.policy": POLICY.format(title="Adult Learning Inspectorate")})
    (root / "policies" / "x\x1b[2J\rALLOWED.policy").write_text('organisation X "x"\n', encoding="utf-8")
    p = lawful([*ASK, "--bundle", str(root)], tmp_path)
    assert p.returncode == 2 and "error[bad-file-name]" in p.stderr, p.stderr
    assert "policies/x\\x1b[2J\\x0dALLOWED.policy" in p.stderr
    assert raw_controls(p.stderr) == []
    # bytes that are not UTF-8 in a name are refused the same way
    os.rename(root / "policies" / "x\x1b[2J\rALLOWED.policy", os.fsencode(root / "policies") + b"/caf\xe9.policy")
    p = lawful(["check", "--bundle", str(root)], tmp_path)
    assert p.returncode == 1 and "error[bad-file-name]" in p.stdout and "caf\\udce9.policy" in p.stdout, p.stdout


# ---- input from outside the bundle is escaped on every text output ------------------------------------

# No NUL: a command line cannot carry one (arguments are C strings); the library is tested with one below.
hostile = st.text(alphabet=st.sampled_from(list("aLI -\x1b[2K\r\n\x07\x9b\x7f\u202e\u2066\u2028\x85")), min_size=1,
                  max_size=12).filter(lambda s: RAW.search(s) is not None and not s.startswith("-"))


def _commands(word: str) -> list[list[str]]:
    on = ["--on", "2005-06-23"]
    return [
        ["can-share", word, "ALI", "provider-data", "--purpose", "inspection", *on],
        ["can-share", "JCP", word, "provider-data", *on],
        ["can-share", "JCP", "ALI", word, *on],
        ["can-share", "JCP", "ALI", "provider-data", "--purpose", word, *on],
        ["can-share", "JCP", "ALI", "provider-data", "--assume", word, *on],
        ["can-share", "JCP", "ALI", "provider-data", "--on", word],
        ["can-share", "JCP", "ALI", "provider-data", "--format", word],
        ["recipients", word, "provider-data", *on],
        ["sources", "ALI", word, *on],
        ["flows", "--data", word, *on],
        ["blocked", "--purpose", word, *on],
        ["graph", "--data", word, "--format", "mermaid", *on],
        ["check", "--explain", word],
        ["bundle", "hash", "--bundle", word],
        ["test", word],
        ["log", "verify", word],
        ["diff", word, "HEAD"],
    ]


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(word=hostile)
def test_hostile_names_in_questions_are_escaped_by_every_command(word):
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        for args in _commands(word):
            result = runner.invoke(app, args, color=True)  # color=True: Click must not strip anything for us
            out = result.output + (result.stderr if result.stderr_bytes is not None else "")
            assert result.exit_code == 2, (args, out)
            assert "Traceback" not in out and "internal-error" not in out, (args, out)
            assert raw_controls(out) == [], (args, repr(out))
    finally:
        os.chdir(cwd)


def test_a_bundle_path_with_a_nul_is_a_diagnostic():
    with pytest.raises(engine.DiagnosticsError) as exc:
        engine.load("bundle\x00\x1b[2J")
    (d,) = exc.value.diagnostics
    assert d.code == "bad-bundle" and "\x00" not in d.message and "\x1b" not in d.message


def test_unknown_names_keep_the_raw_text_as_data_but_escape_the_message():
    policy = engine.load(ROOT)
    with pytest.raises(engine.UnknownNameError) as exc:
        policy.decide("\x1b[2JJCP", "ALI", "provider-data", "inspection", on=dt.date(2005, 6, 23))
    assert exc.value.name == "\x1b[2JJCP"
    assert "\x1b" not in str(exc.value) and "\\x1b[2JJCP" in str(exc.value)
    assert "\x1b" not in exc.value.to_diagnostic().message


def test_transfer_log_values_with_bidi_controls_are_escaped(tmp_path):
    log = tmp_path / "t.csv"
    log.write_text("source,recipient,data,purpose,date\nJCP\u202e,ALI,provider-data,inspection,2005-06-23\n",
                   encoding="utf-8")
    p = lawful(["audit", str(log), "--bundle", str(ROOT)], tmp_path)
    assert p.returncode == 1 and "JCP\\u202e" in p.stdout, p.stdout
    assert raw_controls(p.stdout + p.stderr) == []


def test_a_log_file_named_with_an_escape_sequence_is_shown_escaped(tmp_path):
    log = tmp_path / "d\x1b[2J.jsonl"
    p = lawful([*ASK, "--bundle", str(ROOT), "--audit-log", str(log)], tmp_path)
    assert p.returncode in (0, 1), p.stderr
    p = lawful(["log", "verify", str(log)], tmp_path)
    assert p.returncode == 0 and "d\\x1b[2J.jsonl: OK" in p.stdout, p.stdout + p.stderr
    assert raw_controls(p.stdout + p.stderr) == []
    with open(log, "ab") as f:
        f.write(b'{"edited": "\x1b[2J"}\n')
    p = lawful(["log", "verify", str(log)], tmp_path)
    assert p.returncode == 1 and "d\\x1b[2J.jsonl:" in p.stdout, p.stdout + p.stderr
    assert raw_controls(p.stdout + p.stderr) == []


# ---- confusable names ---------------------------------------------------------------------------------

CONFUSABLE = """\
organisation ALI "Adult Learning Inspectorate"
organisation AL1 "A body whose id is a one, not an I"
organisation LSC "Learning and Skills Council" aka "Learning and Skills"
organisation LEA "A local education authority" aka "L\u0405C"
organisation JCP "Jobcentre Plus" aka "Jobcentre Plus "
organisation DWP "Department for Work and Pensions" aka "Work\u200band Pensions"
organisation OFSTED "Office for Standards in Education" aka "Ofsted"
data d "D"
purpose p "P"
gateway G "g" {
  statute LSA-2000 "section 1"
  allows ALI, AL1, LSC, LEA, JCP, DWP, OFSTED -> ALI, AL1, LSC, LEA, JCP, DWP, OFSTED
  data d
  for p
}
"""


def test_look_alike_organisation_names_are_warned_about(tmp_path):
    root = write_bundle(tmp_path / "b", {"main.policy": CONFUSABLE})
    p = lawful(["check", "--bundle", str(root), "--format", "json"], tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    found = [d["message"] for d in json.loads(p.stdout)["diagnostics"] if d["code"] == "confusable-name"]
    joined = "\n".join(found)
    assert "`AL1` (organisation `AL1`) looks like `ALI` (organisation `ALI`)" in joined, joined
    assert "`L\u0405C` (organisation `LEA`) looks like `LSC` (organisation `LSC`)" in joined, joined
    assert "alias `L\u0405C` of organisation `LEA` mixes Cyrillic and Latin letters" in joined
    assert "alias `Jobcentre Plus ` of organisation `JCP` begins or ends with a space" in joined
    assert "alias `Work\u200band Pensions` of organisation `DWP` holds an invisible character (U+200B)" in joined
    assert not any("OFSTED" in m for m in found)  # an organisation's own alias is not a look-alike of itself
    strict = lawful(["check", "--bundle", str(root), "--strict"], tmp_path)
    assert strict.returncode == 1 and "warning[confusable-name]" in strict.stdout


def test_the_shipped_bundle_has_no_confusable_names():
    from engine.review.lint import lint_confusable_names

    assert lint_confusable_names(engine.load(ROOT), dt.date(2005, 6, 23), 90) == []
