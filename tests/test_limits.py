"""Input limits and hostile input (issue 7): each limit is a diagnostic with its stable code and a location —
never a crash, a traceback or a hang (each case runs under a generous time bound that only a hang reaches)."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest
from typer.testing import CliRunner

import engine
import engine.check.checks
import engine.syntax.register
from engine.bundle.read import DEFAULT_LIMITS, Limits, read_bundle
from engine.errors import DiagnosticsError
from engine.base.hierarchy import MAX_DEPTH
from engine.syntax.register import MAX_YAML_DEPTH, parse_register
from engine.base.source import SourceFile

from cli import app
from conftest import MINI_REGISTER
from fuzzkit import time_limit

runner = CliRunner()
HANG = 60.0  # seconds; the cases take milliseconds to a second or two


def diagnostics_of(root: Path) -> list:
    with time_limit(HANG):
        diags, _sources = engine.check_bundle(root)
    return diags


def only(diags, code: str):
    found = [d for d in diags if d.code == code]
    assert found, f"expected {code}, got {[d.headline() for d in diags][:5]}"
    return found[0]


def load_error(root: Path, code: str):
    with time_limit(HANG), pytest.raises(DiagnosticsError) as err:
        engine.load(root)
    return only(err.value.diagnostics, code)


SMALL = 'organisation A "Ay"\n'


# ---- files -------------------------------------------------------------------------------------------


def test_file_too_large_policy(make_bundle):
    root = make_bundle({"a.policy": SMALL})
    big = root / "policies" / "big.policy"
    big.write_bytes(b"#" * (DEFAULT_LIMITS.max_file_bytes + 1))  # 5 MB and one byte
    d = load_error(root, "file-too-large")
    assert d.span.file == "policies/big.policy" and d.span.line == 1


def test_file_too_large_register(make_bundle):
    root = make_bundle({"a.policy": SMALL})
    (root / "gateways.yaml").write_bytes(b"#" * (DEFAULT_LIMITS.max_file_bytes + 1))
    assert load_error(root, "file-too-large").span.file == "gateways.yaml"


def test_file_too_large_in_memory_texts():
    with pytest.raises(DiagnosticsError) as err:
        engine.load_texts({"policies/a.policy": "#" * (DEFAULT_LIMITS.max_file_bytes + 1)}, MINI_REGISTER)
    assert only(err.value.diagnostics, "file-too-large").span.file == "policies/a.policy"


def test_too_many_files(make_bundle):
    # The real limit is 2,000 files; the same check at a lowered limit keeps the test quick.
    assert DEFAULT_LIMITS.max_files == 2_000
    root = make_bundle({f"f{i:02d}.policy": f'organisation O{i} "o"\n' for i in range(11)})
    d = only(read_bundle(root, Limits(max_files=10)).diagnostics, "too-many-files")
    assert d.span.file == "policies" and "11 policy files" in d.message
    assert not [x for x in read_bundle(root, Limits(max_files=11)).diagnostics if x.code == "too-many-files"]


def test_total_size_of_the_bundle(make_bundle):
    root = make_bundle({"a.policy": SMALL * 10, "b.policy": SMALL * 10})
    result = read_bundle(root, Limits(max_total_bytes=300))
    d = only(result.diagnostics, "limit-exceeded")
    assert d.span.file == "policies/b.policy"


# ---- counts inside the policy ------------------------------------------------------------------------

VOCAB = 'organisation A "Ay"\norganisation B "Bee"\ndata d "D"\npurpose p "P"\n'


def _gateway(clause: str) -> str:
    return VOCAB + f'gateway G "g" {{\n  statute LSA-2000\n  {clause}\n}}\n'


@pytest.mark.parametrize("clause", [
    "allows A -> B\n  for p\n  data {names}",
    "allows {names} -> B\n  data d\n  for p",
    "allows A -> {names}\n  data d\n  for p",
    "allows A -> B\n  data d\n  for {names}",
])
def test_identifiers_per_list(make_bundle, monkeypatch, clause):
    # At the real limit (10,000) for data lists; lowered for the others, where the check is the same code.
    if "data {names}" not in clause:
        monkeypatch.setattr(engine.check.checks, "MAX_LIST", 5)
    n = engine.check.checks.MAX_LIST + 1
    names = ", ".join(f"x{i}" for i in range(n))
    root = make_bundle({"a.policy": _gateway(clause.format(names=names))})
    d = only(diagnostics_of(root), "limit-exceeded")
    assert f"{engine.check.checks.MAX_LIST:,} names" in d.message and d.span.file == "policies/a.policy" \
        and d.span.line >= 1
    fits = make_bundle({"a.policy": _gateway(clause.format(names=", ".join(f"x{i}" for i in range(n - 1))))})
    assert not [x for x in diagnostics_of(fits) if x.code == "limit-exceeded"]


def test_total_rules(make_bundle, monkeypatch):
    # The real limit is 500,000 declarations; the check is the same at any size, so it is lowered here.
    monkeypatch.setattr(engine.check.checks, "MAX_RULES", 10)
    root = make_bundle({"a.policy": "".join(f'organisation O{i} "o"\n' for i in range(11))})
    d = only(diagnostics_of(root), "limit-exceeded")
    assert "11 items" in d.message and d.span.file == "policies/a.policy" and d.span.line == 11
    monkeypatch.setattr(engine.check.checks, "MAX_RULES", 11)
    assert not [x for x in diagnostics_of(root) if x.code == "limit-exceeded"]


@pytest.mark.parametrize("kind", ["organisation", "data", "purpose"])
def test_hierarchy_depth(make_bundle, kind):
    relation = "part-of" if kind == "organisation" else "under"
    lines = [f'{kind} N0 "n"'] + [f'{kind} N{i} "n" {relation} N{i - 1}' for i in range(1, MAX_DEPTH + 2)]
    root = make_bundle({"a.policy": "\n".join(lines) + "\n"})
    d = only(diagnostics_of(root), "limit-exceeded")
    assert f"deeper than {MAX_DEPTH}" in d.message and d.span.line >= 1
    shallow = make_bundle({"a.policy": "\n".join(lines[:MAX_DEPTH + 1]) + "\n"})
    assert not [x for x in diagnostics_of(shallow) if x.code == "limit-exceeded"]


# ---- deep nesting, huge lines ------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "{" * 200_000,
    "gateway G \"g\" " + "{" * 100_000,
    'organisation A "' + "a" * 1_000_000 + '"',  # a 1 MB line
    "organisation " + "A" * 1_000_000 + ' "t"\n',
    "(" * 300_000,
])
def test_deep_or_huge_policy_text_is_a_diagnostic(make_bundle, text):
    root = make_bundle({"a.policy": text})
    with time_limit(HANG):
        try:
            engine.load(root)
        except DiagnosticsError as err:
            assert all(d.span is not None for d in err.diagnostics)
            assert err.diagnostics[0].code in ("parse-error", "limit-exceeded", "missing-clause")


@pytest.mark.parametrize("doc", [
    "statutes: " + "[" * 100_000 + "]" * 100_000,
    "statutes: " + "{a: " * 50_000 + "1" + "}" * 50_000,
    "statutes:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 2000)),
])
def test_deep_yaml_is_limit_exceeded(doc):
    with time_limit(HANG):
        register, diags = parse_register(SourceFile("gateways.yaml", doc))
    assert register is None and diags[0].code in ("limit-exceeded", "bad-yaml")
    assert diags[0].span.file == "gateways.yaml" and diags[0].span.line >= 1


def test_yaml_depth_limit_is_exact():
    def nested(depth: int) -> str:
        return "[" * depth + "]" * depth

    _reg, diags = parse_register(SourceFile("gateways.yaml", nested(MAX_YAML_DEPTH)))
    assert diags and diags[0].code == "schema"  # deep enough to be wrong, not deep enough to be refused
    _reg, diags = parse_register(SourceFile("gateways.yaml", nested(MAX_YAML_DEPTH + 1)))
    assert diags[0].code == "limit-exceeded"


def test_cli_on_deeply_nested_register_exits_1_without_traceback(make_bundle):
    root = make_bundle({"a.policy": SMALL}, register="statutes: " + "[" * 50_000 + "]" * 50_000)
    out = runner.invoke(app, ["check", "--bundle", str(root)])
    assert out.exit_code == 1 and "limit-exceeded" in out.output and "Traceback" not in out.output


# ---- YAML: safe loading only ------------------------------------------------------------------------

BILLION_LAUGHS = """\
statutes: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_billion_laughs_fails_fast_with_yaml_alias():
    tracemalloc.start()
    try:
        with time_limit(HANG):
            register, diags = parse_register(SourceFile("gateways.yaml", BILLION_LAUGHS))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert register is None and diags[0].code == "yaml-alias"
    assert diags[0].span.line == 1 and "&a" in diags[0].message  # refused at the first anchor
    assert peak < 20 * 1024 * 1024  # nothing was expanded (the full document would be 9**9 strings)


def test_billion_laughs_without_anchors_first_is_refused_at_the_alias():
    doc = "statutes:\n  X:\n    title: *undefined\n    status: in-force\n"
    _reg, diags = parse_register(SourceFile("gateways.yaml", doc))
    assert diags[0].code == "yaml-alias" and diags[0].span.line == 3


@pytest.mark.parametrize("doc, line", [
    ("statutes:\n  X: &x\n    title: T\n    status: proposed\n", 2),
    ("base: &b {status: proposed}\nstatutes:\n  X:\n    <<: *b\n    title: T\n", 1),
])
def test_anchors_and_merge_keys_are_refused(doc, line):
    _reg, diags = parse_register(SourceFile("gateways.yaml", doc))
    assert diags[0].code == "yaml-alias" and diags[0].span.line == line


def test_yaml_tags_never_execute(tmp_path):
    marker = tmp_path / "pwned"
    doc = f'statutes: !!python/object/apply:os.system ["touch {marker}"]\n'
    register, diags = parse_register(SourceFile("gateways.yaml", doc))
    assert register is None and diags and not marker.exists()


def test_duplicate_keys_are_refused():
    doc = "statutes:\n  X:\n    title: A\n    status: proposed\n    title: B\n"
    _reg, diags = parse_register(SourceFile("gateways.yaml", doc))
    assert diags[0].code == "yaml-duplicate-key" and diags[0].span.line == 5


# ---- symbolic links ---------------------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "evil.policy").write_text(SMALL)
    (folder / "gateways.yaml").write_text(MINI_REGISTER)
    return folder


def test_symlinked_policy_file_outside_is_unsafe(make_bundle, outside):
    root = make_bundle({"a.policy": SMALL})
    os.symlink(outside / "evil.policy", root / "policies" / "evil.policy")
    d = load_error(root, "unsafe-path")
    assert d.span.file == "policies/evil.policy"


def test_symlinked_folder_is_unsafe(make_bundle, outside):
    root = make_bundle({"a.policy": SMALL})
    os.symlink(outside, root / "policies" / "more")
    assert load_error(root, "unsafe-path").span.file == "policies/more"


def test_symlinked_register_outside_is_unsafe(make_bundle, outside):
    root = make_bundle({"a.policy": SMALL})
    (root / "gateways.yaml").unlink()
    os.symlink(outside / "gateways.yaml", root / "gateways.yaml")
    assert load_error(root, "unsafe-path").span.file == "gateways.yaml"


def test_symlinked_policies_folder_outside_is_unsafe(tmp_path, outside):
    root = tmp_path / "b"
    root.mkdir()
    (root / "gateways.yaml").write_text(MINI_REGISTER)
    os.symlink(outside, root / "policies")
    # refused at the link itself: nothing below a policies/ that leaves the bundle is even listed
    assert load_error(root, "unsafe-path").span.file == "policies"


def test_symlink_inside_the_bundle_is_fine(make_bundle):
    root = make_bundle({"a.policy": SMALL})
    (root / "shared").mkdir()
    (root / "shared" / "b.policy").write_text('organisation B "Bee"\n')
    os.symlink(root / "shared" / "b.policy", root / "policies" / "b.policy")
    policy = engine.load(root)
    assert set(policy.orgs) == {"a", "b"}


def test_a_diagnostic_on_a_huge_line_shows_a_window_of_it(make_bundle):
    root = make_bundle({"a.policy": 'organisation A "x" aka ' + '"y", ' * 200_000 + "}\n"})  # 1 MB; error at the end
    out = runner.invoke(app, ["check", "--bundle", str(root)])
    assert out.exit_code == 1 and "parse-error" in out.output
    assert len(out.output) < 2_000  # the line is shown as a window around the column, not a megabyte
    snippet = [line for line in out.output.splitlines() if line.startswith("1 | ")][0]
    caret = [line for line in out.output.splitlines() if line.strip().startswith("|") and "^" in line][0]
    assert snippet.startswith("1 | …") and snippet[caret.index("^")] == "}"  # the caret sits under the token
