"""`lawful fmt`: golden pairs (tests/fmt/x.policy -> x.policy.formatted), comments kept, idempotence, the
default bundle already formatted, the CLI's --check and --diff, and hypothesis properties over text generated
from the grammar (`hypothesis.extra.lark.from_lark`) and over generated models printed by the formatter."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from typer.testing import CliRunner

from cli import app
from conftest import ROOT
from engine.syntax import model as m
from engine.review.fmt import format_model, format_text, scan_comments
from engine.errors import FormatError
from engine.syntax.parser import parse_source, parser
from engine.base.source import SourceFile

runner = CliRunner()
GOLDEN = sorted((Path(__file__).parent / "fmt").glob("*.policy"))
EXAMPLES = int(os.environ.get("LAWFUL_HYPOTHESIS_EXAMPLES", "150"))


def parse(text: str, name: str = "x.policy") -> m.PolicyFile:
    pf, diags = parse_source(SourceFile(name, text))
    assert pf is not None and not [d for d in diags if d.severity.value == "error"], [d.headline() for d in diags]
    return pf


def comments(text: str) -> list[str]:
    return sorted(c.text for c in scan_comments(text))


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden(path: Path):
    source = path.read_text(encoding="utf-8")
    want = path.with_name(path.name + ".formatted").read_text(encoding="utf-8")
    got = format_text(source, path.name)
    assert got == want
    assert format_text(got, path.name) == got  # idempotent
    assert parse(got) == parse(source)  # same meaning
    assert comments(got) == comments(source)  # every comment kept


def test_default_bundle_is_formatted(monkeypatch):
    monkeypatch.chdir(ROOT)
    r = runner.invoke(app, ["fmt", "--check"])
    assert r.exit_code == 0, r.output
    for path in sorted((ROOT / "policies").glob("*.policy")) + sorted((ROOT / "tests" / "policy").glob("*.policy")):
        text = path.read_text(encoding="utf-8")
        assert format_text(text, path.name) == text, path


def test_check_diff_and_write(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    messy = 'gateway G "t" {   for p\n data d  # kept\n statute X }\n'
    (tmp_path / "a.policy").write_text(messy, encoding="utf-8")
    (tmp_path / "b.policy").write_text('organisation A "a"\n', encoding="utf-8")
    r = runner.invoke(app, ["fmt", "--check", "."])
    assert r.exit_code == 1 and "would reformat a.policy" in r.output \
        and "b.policy" not in r.output.replace("unchanged", "")
    assert (tmp_path / "a.policy").read_text(encoding="utf-8") == messy  # --check writes nothing
    r = runner.invoke(app, ["fmt", "--diff", "a.policy"])
    assert r.exit_code == 0
    assert "--- a/a.policy" in r.output and "+  data d # kept" in r.output
    assert (tmp_path / "a.policy").read_text(encoding="utf-8") == messy
    r = runner.invoke(app, ["fmt", "."])
    assert r.exit_code == 0 and "reformatted a.policy" in r.output
    assert (tmp_path / "a.policy").read_text(encoding="utf-8") == ('gateway G "t" {\n  statute X\n'
                                                                    '  data d # kept\n  for p\n}\n')
    assert runner.invoke(app, ["fmt", "--check", "."]).exit_code == 0


def test_no_bundle_no_paths_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LAWFUL_BUNDLE", raising=False)
    r = runner.invoke(app, ["fmt"])
    assert r.exit_code == 2 and "not a bundle" in r.output


def test_refuses_what_it_cannot_keep(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.policy").write_text('gateway G "t" {\n  data a\n  data b\n}\n', encoding="utf-8")
    (tmp_path / "broken.policy").write_text('gateway G "t" {\n', encoding="utf-8")
    r = runner.invoke(app, ["fmt", "."])
    assert r.exit_code == 2
    assert "duplicate-clause" in r.output and "parse-error" in r.output
    assert (tmp_path / "bad.policy").read_text(encoding="utf-8") == 'gateway G "t" {\n  data a\n  data b\n}\n'
    with pytest.raises(FormatError):
        format_text('agreement A "a" {\n  allows X -> Y\n}\n')


def test_crlf_and_form_feed_in_comments():
    text = 'organisation A "a"\r\n# comment with \x0c form feed\r\norganisation B "b" # x\r\n'
    got = format_text(text)
    assert parse(got) == parse(text)
    assert format_text(got) == got
    assert "# comment with \x0c form feed" in got


# ---- properties over text generated from the grammar ------------------------------------------------

NAMES = st.from_regex(r"[A-Z][A-Za-z0-9_.]{0,5}(-[a-z0-9]{1,3}){0,2}", fullmatch=True)
STRING_BODY = st.lists(st.one_of(st.text(st.characters(blacklist_characters='"\\\n', blacklist_categories=("Cs",)),
                                         max_size=6),
                                 st.sampled_from(['\\"', "\\\\", "#"])), max_size=4).map("".join)
DATES = st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)).map(dt.date.isoformat)


def _explicit() -> dict:
    out = {}
    for t in parser().terminals:
        if t.pattern.type == "str":
            out[t.name] = st.just(f" {t.pattern.value} ")
    out.update({
        "NAME": NAMES.map(lambda s: f" {s} "),
        "STRING": STRING_BODY.map(lambda s: f' "{s}" '),
        "DATE": DATES.map(lambda s: f" {s} "),
        "MARKER": st.sampled_from(m.MARKERS).map(lambda s: f" {s} "),
        "VERDICT": st.sampled_from(["allow", "deny"]).map(lambda s: f" {s} "),
        "WS": st.sampled_from([" ", "\n", "\n\n", "\t"]),
        "COMMENT": st.from_regex(r"#[^\n\r]{0,12}", fullmatch=True).map(lambda s: f" {s}\n"),
    })
    return out


POLICY_TEXT = from_lark(parser(), explicit=_explicit())


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
@given(POLICY_TEXT)
def test_formatting_generated_text_keeps_meaning_and_comments(text):
    pf, diags = parse_source(SourceFile("x.policy", text))
    assume(pf is not None and not diags)  # misplaced or duplicated clauses are refused, not formatted
    once = format_text(text, "x.policy")
    assert parse(once) == pf
    assert format_text(once, "x.policy") == once
    assert comments(once) == comments(text)


# ---- properties over generated models ---------------------------------------------------------------

name = NAMES.map(m.Name)
names = st.lists(name, min_size=1, max_size=4).map(tuple)
text_ = STRING_BODY.map(lambda s: s.replace('\\"', '"').replace("\\\\", "\\"))
dates = st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31))
validity = st.one_of(
    st.tuples(dates, dates).map(lambda t: m.Validity(t[0], t[1])), dates.map(lambda d: m.Validity(d, None)),
    dates.map(lambda d: m.Validity(None, d)))
parties = st.builds(lambda s, r, a, b: m.Parties(() if a else s, () if b else r, a, b), names, names, st.booleans(),
                    st.booleans())
onward = st.one_of(st.sampled_from(["none", "as-discloser"]).map(lambda k: m.Onward(k)),
                   st.tuples(st.sampled_from(["to", "only-for"]), names).map(lambda t: m.Onward(t[0], t[1])))
exception = st.one_of(st.just(m.Exception_(anonymised=True)),
                      st.tuples(names, st.one_of(st.just(()), names))
                      .map(lambda t: m.Exception_(to=t[0], purposes=t[1])),
                      names.map(lambda p: m.Exception_(purposes=p)))
opt = lambda s: st.one_of(st.none(), s)  # noqa: E731
statute = st.builds(m.StatuteRef, name, opt(text_))
strings = st.lists(text_, max_size=2).map(tuple)

organisation = st.builds(
    lambda i, t, p, a, s: m.Organisation(i, t, p, a, s[0] if s else None, s[1] if s else None),
    name, text_, opt(name), st.lists(text_, max_size=2).map(tuple), opt(st.tuples(name, dates)))
data_decl = st.builds(lambda i, t, p, mk: m.DataCategory(i, t, p, tuple(dict.fromkeys(mk))), name, text_, opt(name),
                      st.lists(st.sampled_from(m.MARKERS), max_size=3))
purpose = st.builds(m.Purpose, name, text_, opt(name))
gateway = st.builds(m.Gateway, id=name, title=text_, statute=opt(statute),
                    allows=st.lists(parties, max_size=2).map(tuple), data=st.one_of(st.just(()), names),
                    purposes=st.one_of(st.just(()), names),
                    requires_agreement=st.booleans(), lawful_basis=opt(name), article9=opt(text_), article10=opt(text_),
                    onward=opt(onward), overrides=st.one_of(st.just(()), names), valid=opt(validity), notes=strings)
restriction = st.builds(m.Restriction, id=name, title=text_, statute=opt(statute),
                        one_way=st.one_of(st.just(()), names), forbids=st.lists(parties, max_size=2).map(tuple),
                        data=st.one_of(st.just(()), names),
                        purposes=st.one_of(st.just(()), names), exceptions=st.lists(exception, max_size=3).map(tuple),
                        valid=opt(validity), notes=strings)


@st.composite
def agreement(draw):
    both = draw(st.booleans())
    sources, recipients = ((draw(name),), (draw(name),)) if both else (draw(names), draw(names))
    return m.Agreement(
        id=draw(name), title=draw(text_), sources=sources, recipients=recipients, both_ways=both,
        data=draw(st.one_of(st.just(()), names)), purposes=draw(st.one_of(st.just(()), names)), under=draw(opt(name)),
        lawful_basis=draw(opt(name)), article9=draw(opt(text_)), article10=draw(opt(text_)), valid=draw(opt(validity)),
        review=draw(opt(dates)), owner=draw(opt(text_)), onward=draw(opt(onward)), requires=draw(strings),
        notes=draw(strings))


expectation = st.builds(m.Expectation, st.sampled_from(["allow", "deny"]), name, name, name, opt(name), opt(dates),
                        st.one_of(st.just(()), names), st.one_of(st.just(()), names))
policy_test = st.builds(m.PolicyTest, text_, st.lists(expectation, max_size=3).map(tuple))
policy_file = st.lists(st.one_of(organisation, data_decl, purpose, gateway, restriction, agreement(), policy_test),
                       max_size=6).map(lambda items: m.PolicyFile("x.policy", tuple(items)))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy_file)
def test_generated_models_print_and_parse_back(pf):
    text = format_model(pf)
    assert parse(text) == pf
    assert format_text(text, "x.policy") == text
