"""Checking and compiling again after an edit (issue 18, target 3: engine/check/incremental.py,
engine/compile/compiled.py, engine/policy/loader.py) gives exactly what a load from scratch gives.

- Property: random bundles (tests/bundlegen13.py) spread over files with random names, then a chain of random
  one-file edits (retitle, add, remove, duplicate or break an agreement, shift a file's lines, break its
  syntax, add or delete a file, edit an organisation, a gateway or the register, or nothing at all). After
  each edit the loader that saw the earlier versions gives the same diagnostics (every one, in the same order,
  spans included), the same compiled policy and the same answers as a fresh load of the edited texts.
- Reuse really happens: after an edit of one agreement file only that file's agreements are checked and
  compiled again — through `BundleLoader`, `lawful serve`'s reload and the language server alike; an edit
  outside the agreements (the environment) checks and compiles everything again.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bundlegen import Bundle, agreement_decl, all_questions
from bundlegen13 import bundles13
from conftest import MINI_REGISTER, write_bundle
from engine.bundle.read import bundle_from_texts
from engine.check import checks
from engine.check.checks import check
from engine.compile.compiled import CompiledPolicy
from engine.errors import DiagnosticsError
from engine.policy.load import _check, _compile
from engine.policy.loader import BundleLoader

EXAMPLES = int(os.environ.get("LAWFUL_EXAMPLES", "40"))
ON = dt.date(2008, 1, 26)

# ---- the canonical form of a compiled policy ---------------------------------------------------------


def _canon(x) -> str:
    if isinstance(x, (frozenset, set)):
        out = "{" + ",".join(sorted(_canon(i) for i in x)) + "}"
        if hasattr(x, "dated"):
            out += _canon(dict(x.dated)) + _canon(dict(x.via))
        return out
    if isinstance(x, dict):
        return "D(" + ",".join(f"{_canon(k)}:{_canon(v)}" for k, v in x.items()) + ")"
    if isinstance(x, (list, tuple)):
        return "[" + ",".join(_canon(i) for i in x) + "]"
    # dataclasses and msgspec Structs (Span, Name), spans too: the model's repr and equality leave them out
    names = getattr(x, "__dataclass_fields__", None) or getattr(x, "__struct_fields__", None)
    if names:
        return type(x).__name__ + "(" + ",".join(f"{f}={_canon(getattr(x, f))}" for f in names) + ")"
    if type(x).__module__.startswith("engine.") and hasattr(x, "__dict__"):  # a Tree
        return type(x).__name__ + _canon({k: v for k, v in vars(x).items() if k != "_graph"})
    return repr(x)


def canonical(policy: CompiledPolicy) -> str:
    return "\n".join(f"{k}={_canon(v)}" for k, v in sorted(vars(policy).items()) if not k.startswith("_"))


# ---- bundles as files, and one-file edits ------------------------------------------------------------

FILE_NAMES = ["policies/a.policy", "policies/m.policy", "policies/z.policy", "policies/sub/b.policy",
              "policies/Q.policy"]


@st.composite
def laid_out(draw) -> tuple[Bundle, dict[str, list[str]]]:
    """A generated bundle with its declarations spread over 1-4 files (order kept within each file)."""
    b = draw(bundles13())
    names = draw(st.lists(st.sampled_from(FILE_NAMES), min_size=1, max_size=5, unique=True))
    files: dict[str, list[str]] = {n: [] for n in names}
    # Half the time, as large bundles are written: the agreements in files of their own.
    split = len(names) >= 3 and draw(st.booleans())
    for item in b.items:
        agreement = _kind(item) == "agreement"
        if agreement and draw(st.booleans()):  # a warning to find again (or not) after an edit
            item = item.replace('  owner "generated"\n', "")
        pool = (sorted(names)[1:] if agreement else sorted(names)[:1]) if split else names
        files[draw(st.sampled_from(pool))].append(item)
    return b, files


def texts_of(files: dict[str, list[str]]) -> dict[str, str]:
    return {name: "\n".join(items) + "\n" for name, items in files.items()}


def _kind(item: str) -> str:
    return item.split(" ", 1)[0]


EDITS = ["retitle", "retitle", "add", "add", "remove", "duplicate", "shadow", "shadow", "unknown-name", "shift",
         "syntax", "new-file", "delete-file", "organisation", "gateway", "restriction", "restriction",
         "remove-restriction", "under-restriction", "register", "nothing"]


@st.composite
def one_file_edit(draw, b: Bundle, files: dict[str, list[str]], register: str, serial: int
                  ) -> tuple[str, dict[str, list[str]], str]:
    """(what was done, the files after it, the register after it): one file changed (or none)."""
    kind = draw(st.sampled_from(EDITS))
    files = {n: list(items) for n, items in files.items()}
    name = draw(st.sampled_from(sorted(files)))
    items = files[name]
    where = [i for i, item in enumerate(items) if _kind(item) == "agreement"]
    if kind == "retitle" and where:
        i = draw(st.sampled_from(where))
        items[i] = items[i].replace('"generated"', f'"edited {serial}"', 1)
    elif kind == "add":
        items.insert(draw(st.integers(0, len(items))), draw(agreement_decl(b, f"A-NEW{serial}")))
    elif kind == "remove" and items:
        del items[draw(st.integers(0, len(items) - 1))]
    elif kind == "duplicate":
        agreements = [item for its in files.values() for item in its if _kind(item) == "agreement"]
        if agreements:
            items.append(draw(st.sampled_from(agreements)))
    elif kind == "shadow":  # an agreement of a later file declared again in an earlier one: the later loses its id
        pairs = [(n, item) for later in sorted(files) for item in files[later] if _kind(item) == "agreement"
                 for n in sorted(files) if n < later]
        if pairs:
            name, item = draw(st.sampled_from(pairs))
            files[name].insert(draw(st.integers(0, len(files[name]))), item)
    elif kind == "unknown-name" and where:
        i = draw(st.sampled_from(where))
        items[i] = re.sub(r"under (\S+)", r"under \1X", items[i], count=1)
    elif kind == "shift":
        items.insert(0, "# a comment that moves every line below it\n")
    elif kind == "syntax":
        items.append("agreement {")
    elif kind == "new-file":
        files[f"policies/new{serial}.policy"] = [draw(agreement_decl(b, f"A-FILE{serial}"))]
    elif kind == "delete-file" and len(files) > 1:
        del files[name]
    elif kind == "under-restriction" and where:  # `wrong-kind` while the restriction exists, unknown once gone
        restrictions = [re.match(r"restriction (\S+)", item) for its in files.values() for item in its]
        ids = [m[1] for m in restrictions if m]
        if ids:
            i = draw(st.sampled_from(where))
            items[i] = re.sub(r"under \S+", f"under {draw(st.sampled_from(ids))}", items[i], count=1)
    elif kind == "remove-restriction":
        hits = [i for i, item in enumerate(items) if _kind(item) == "restriction"]
        if hits:
            del items[draw(st.sampled_from(hits))]
    elif kind == "restriction":  # retitled, or another party forbidden
        hits = [i for i, item in enumerate(items) if _kind(item) == "restriction"]
        if hits:
            i = draw(st.sampled_from(hits))
            if draw(st.booleans()):
                items[i] = re.sub(r'"([^"]*)"', rf'"\1 {serial}"', items[i], count=1)
            else:
                items[i] = re.sub(r"(forbids|one-way) ", rf"\1 {draw(st.sampled_from(b.orgs))}, ", items[i], count=1)
    elif kind in ("organisation", "gateway"):
        hits = [i for i, item in enumerate(items) if _kind(item) == kind]
        if hits:
            i = draw(st.sampled_from(hits))
            items[i] = re.sub(r'"([^"]*)"', rf'"\1 {serial}"', items[i], count=1)
    elif kind == "register":
        register = register + f"# edited {serial}\n"
    return kind, files, register


# ---- loading both ways --------------------------------------------------------------------------------


class Outcome:
    """Everything a load says: every diagnostic (checks included), and the policy or the error."""

    def __init__(self, diagnostics: list, policy: Optional[CompiledPolicy], error: Optional[DiagnosticsError]):
        self.diagnostics = diagnostics
        self.policy = policy
        self.error = error


def fresh(files: dict[str, list[str]], register: str) -> Outcome:
    result = bundle_from_texts(texts_of(files), register)
    checked, diags = _check(result, ON)
    try:
        return Outcome(diags, _compile(result, checked, diags), None)
    except DiagnosticsError as exc:
        return Outcome(diags, None, exc)


def incremental(loader: BundleLoader, files: dict[str, list[str]], register: str) -> Outcome:
    result = bundle_from_texts(texts_of(files), register)
    diags = list(result.diagnostics)
    if result.bundle is not None:
        diags += loader.check(result.bundle, ON).diagnostics
    try:  # the serve path: check again (reusing) and compile
        return Outcome(diags, loader.build(result, ON), None)
    except DiagnosticsError as exc:
        return Outcome(diags, None, exc)


def assert_same(inc: Outcome, ref: Outcome, b: Bundle) -> None:
    assert inc.diagnostics == ref.diagnostics  # Diagnostic equality includes the span
    assert (inc.error is None) == (ref.error is None)
    if ref.error is not None:
        assert inc.error is not None and inc.error.diagnostics == ref.error.diagnostics
        return
    assert inc.policy is not None and ref.policy is not None
    assert canonical(inc.policy) == canonical(ref.policy)
    for key, a in ref.policy.agreements.items():  # the very same declaration objects (positions included)
        assert inc.policy.agreements[key].model is a.model
    for q in all_questions(b, 120):
        try:
            want = ref.policy.decide(q.source, q.recipient, q.data, q.purpose, on=q.on, assume=q.assume).to_dict()
        except Exception as exc:  # noqa: BLE001 — a name an edit removed: both must refuse it alike
            with pytest.raises(type(exc)):
                inc.policy.decide(q.source, q.recipient, q.data, q.purpose, on=q.on, assume=q.assume)
            continue
        got = inc.policy.decide(q.source, q.recipient, q.data, q.purpose, on=q.on, assume=q.assume).to_dict()
        assert got == want, str(q)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.data_too_large])
@given(st.data())
def test_an_incremental_reload_gives_what_a_fresh_load_gives(data):
    b, files = data.draw(laid_out())
    register = MINI_REGISTER
    loader = BundleLoader()
    assert_same(incremental(loader, files, register), fresh(files, register), b)
    for serial in range(data.draw(st.integers(1, 3))):
        kind, files, register = data.draw(one_file_edit(b, files, register, serial), label="edit")
        assert_same(incremental(loader, files, register), fresh(files, register), b)


@settings(max_examples=max(10, EXAMPLES // 4), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_reload_does_not_depend_on_the_version_loaded_before(data):
    """Determinism: reaching the same texts from two different earlier versions gives one result."""
    b, files = data.draw(laid_out())
    _k1, first, reg1 = data.draw(one_file_edit(b, files, MINI_REGISTER, 1), label="first")
    _k2, second, reg2 = data.draw(one_file_edit(b, files, MINI_REGISTER, 2), label="second")
    target, reg = data.draw(st.sampled_from([(first, reg1), (second, reg2)]))
    one, two = BundleLoader(), BundleLoader()
    incremental(one, first, reg1)
    incremental(two, second, reg2)
    a, z = incremental(one, target, reg), incremental(two, target, reg)
    assert a.diagnostics == z.diagnostics
    assert (a.policy is None) == (z.policy is None)
    if a.policy is not None and z.policy is not None:
        assert canonical(a.policy) == canonical(z.policy)


def test_an_agreement_shadowed_by_an_earlier_file_loses_its_checks():
    """An edit of one file can change what another, unchanged, file has in force: reuse must see it."""
    agreement = 'agreement A1 "x" {\n  from AGENCY to OTHER\n  data figures\n  for research\n  under G1\n}\n'
    other = agreement.replace("A1", "A2")
    files = {"policies/a.policy": [VOCABULARY], "policies/m.policy": [other], "policies/z.policy": [agreement]}
    loader = BundleLoader()
    incremental(loader, files, MINI_REGISTER)
    files["policies/m.policy"] = [other, agreement]
    inc, ref = incremental(loader, files, MINI_REGISTER), fresh(files, MINI_REGISTER)
    assert [d.code for d in ref.diagnostics] == ["duplicate-id", "no-owner", "no-owner"]
    assert inc.diagnostics == ref.diagnostics


RESTRICTION = 'restriction R1 "A bar" {\n  statute SSAA-1992 "s.2"\n  forbids AGENCY -> OTHER\n}\n'


def test_an_agreement_naming_a_restriction_is_checked_again_when_the_restriction_goes():
    """An agreement's checks read the restrictions' ids (`wrong-kind`): removing the restriction it names, in
    another file, turns the error into `unknown-name` — reuse must not keep the first."""
    agreement = ('agreement A1 "x" {\n  from AGENCY to OTHER\n  data figures\n  for research\n  under R1\n'
                 '  owner "o"\n}\n')
    files = {"policies/a.policy": [VOCABULARY], "policies/b.policy": [RESTRICTION], "policies/z.policy": [agreement]}
    loader = BundleLoader()
    first = incremental(loader, files, MINI_REGISTER)
    assert "wrong-kind" in [d.code for d in first.diagnostics]
    files["policies/b.policy"] = ["# no bar any more\n"]
    inc, ref = incremental(loader, files, MINI_REGISTER), fresh(files, MINI_REGISTER)
    assert "unknown-name" in [d.code for d in ref.diagnostics] and "wrong-kind" not in [d.code for d in ref.diagnostics]
    assert inc.diagnostics == ref.diagnostics


def test_the_default_bundle_edited_file_by_file(default_texts):
    """Each file of the default bundle (mixed declarations, issue 12 and 13's language) edited in turn."""
    policies, register = default_texts
    files = {name: [text] for name, text in policies.items()}
    loader = BundleLoader()
    incremental(loader, files, register)
    for i, name in enumerate(sorted(files)):
        edited = dict(files)
        edited[name] = ["# edited\n" + files[name][0].replace('"', f'"edit {i} ', 1)]
        inc, ref = incremental(loader, edited, register), fresh(edited, register)
        assert inc.diagnostics == ref.diagnostics
        assert inc.policy is not None and ref.policy is not None
        assert canonical(inc.policy) == canonical(ref.policy)


@pytest.fixture(scope="module")
def default_texts() -> tuple[dict[str, str], str]:
    from engine.bundle.read import default_bundle, read_bundle

    read = read_bundle(default_bundle())
    return ({n: s.text for n, s in read.sources.items() if n.endswith(".policy")}, read.sources["gateways.yaml"].text)


# ---- reuse really happens -------------------------------------------------------------------------------

VOCABULARY = """\
organisation DEPT "A department"
organisation AGENCY "An agency" part-of DEPT
organisation OTHER "Another body"
data records "Records" personal
data figures "Figures" under records
purpose research "Research"
gateway G1 "A gateway" {
  statute LSA-2000 "s.1"
  allows DEPT -> OTHER
  data records
  for research
  requires agreement
  lawful-basis public-task
}
"""


def _agreements(first: int, n: int) -> str:
    return "".join(f'agreement A{i} "agreement {i}" {{\n  from AGENCY to OTHER\n  data figures\n  for research\n'
                   f'  under G1\n  owner "someone"\n  review 2001-01-01\n}}\n' for i in range(first, first + n))


def _bundle(tmp_path: Path) -> Path:
    return write_bundle(tmp_path / "bundle", {"vocabulary.policy": VOCABULARY, "restrictions.policy": RESTRICTION,
                                              "agreements-1.policy": _agreements(0, 5),
                                              "agreements-2.policy": _agreements(5, 7)})


@pytest.fixture
def counted(monkeypatch) -> dict[str, list[str]]:
    """The agreements the checks and the compile work on (their keys), counted as they are."""
    seen: dict[str, list[str]] = {"checked": [], "compiled": []}
    supported, compile_one = checks._check_supported, CompiledPolicy._compile_agreement

    def check_one(c, a):
        seen["checked"].append(a.id.key)
        return supported(c, a)

    def compile_agreement(self, a, *rest):
        seen["compiled"].append(a.id.key)
        return compile_one(self, a, *rest)

    monkeypatch.setattr(checks, "_check_supported", check_one)
    monkeypatch.setattr(CompiledPolicy, "_compile_agreement", compile_agreement)
    return seen


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_loader_checks_and_compiles_only_the_edited_file(tmp_path, counted):
    root = _bundle(tmp_path)
    loader = BundleLoader()
    loader.load(root)
    assert len(counted["checked"]) == len(counted["compiled"]) == 12
    counted["checked"].clear(), counted["compiled"].clear()
    _edit(root / "policies/agreements-2.policy", '"agreement 6"', '"agreement six"')
    policy = loader.load(root)
    assert sorted(counted["checked"]) == sorted(counted["compiled"]) == sorted(f"a{i}" for i in range(5, 12))
    assert policy.agreements["a6"].model.title == "agreement six"
    counted["checked"].clear(), counted["compiled"].clear()
    policy = loader.load(root)  # nothing changed: nothing is checked or compiled again
    assert counted["checked"] == counted["compiled"] == []
    # a restriction changed: the agreements read none, so they are neither checked nor compiled again
    _edit(root / "policies/restrictions.policy", "forbids AGENCY -> OTHER", "forbids AGENCY, DEPT -> OTHER")
    policy = loader.load(root)
    assert counted["checked"] == counted["compiled"] == []
    assert "dept" in policy.restrictions["r1"].forbids[0][0]
    # the environment changed: everything again
    _edit(root / "policies/vocabulary.policy", '"Another body"', '"Another public body"')
    policy = loader.load(root)
    assert len(counted["checked"]) == len(counted["compiled"]) == 12
    assert policy.orgs["other"].title == "Another public body"


def test_serve_reloads_through_the_same_path(tmp_path, counted):
    from engine.ops.service import BundleHolder

    root = _bundle(tmp_path)
    holder = BundleHolder(root)
    counted["checked"].clear(), counted["compiled"].clear()
    _edit(root / "policies/agreements-1.policy", '"agreement 2"', '"agreement two"')
    assert holder.reload("test")
    assert sorted(counted["checked"]) == sorted(counted["compiled"]) == sorted(f"a{i}" for i in range(5))
    assert holder.current.policy.agreements["a2"].model.title == "agreement two"
    # a reload that finds errors keeps the good bundle, and the next good one still reuses
    _edit(root / "policies/agreements-1.policy", "under G1", "under G9")
    assert not holder.reload("test")
    assert holder.current.policy.agreements["a2"].model.title == "agreement two"
    counted["checked"].clear(), counted["compiled"].clear()
    _edit(root / "policies/agreements-1.policy", "under G9", "under G1")
    assert holder.reload("test") is False  # the same texts as the bundle served: nothing to swap
    assert counted["checked"] == counted["compiled"] == []


def test_the_language_server_analyses_through_the_same_path(tmp_path, counted):
    from engine.ops.lsp.workspace import BundleState

    root = _bundle(tmp_path)
    state = BundleState(root, on=ON)
    state.analyse({})
    counted["checked"].clear(), counted["compiled"].clear()
    doc = root / "policies/agreements-2.policy"
    edited = doc.read_text(encoding="utf-8").replace('"agreement 9"', '"agreement nine"')
    analysis = state.analyse({doc: edited})  # an unsaved edit in the editor
    assert sorted(counted["checked"]) == sorted(counted["compiled"]) == sorted(f"a{i}" for i in range(5, 12))
    assert analysis.policy is not None and analysis.policy.agreements["a9"].model.title == "agreement nine"
    assert analysis.checked is not None
    assert analysis.checked.diagnostics == check(analysis.checked.bundle, ON).diagnostics
    # what it publishes (by file, sorted; the unchanged files' lists kept from the last analysis) is what a
    # server that never saw the earlier text publishes
    assert analysis.diagnostics == BundleState(root, on=ON).analyse({doc: edited}).diagnostics


@settings(max_examples=max(10, EXAMPLES // 2), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_language_servers_symbols_merged_by_file_are_the_global_ones(data):
    """`Symbols` merges each file's own tables (cached by file between analyses): the same winners, in the same
    order, as sorting every declaration of the bundle (the first in file, line and column order wins)."""
    from engine.ops.lsp.symbols import _DECL_KIND, _DECLARED, Symbols

    b, files = data.draw(laid_out())
    result = bundle_from_texts(texts_of(files), MINI_REGISTER)
    pfs = list(result.bundle.files) if result.bundle is not None else []
    pfs = data.draw(st.permutations(pfs))
    cache: dict = {}
    Symbols(pfs[: len(pfs) // 2], None, cache)  # a warm cache for some files
    got = Symbols(pfs, None, cache)
    want: dict[str, dict] = {}
    for item in sorted((i for f in pfs for i in f.items if isinstance(i, _DECLARED)),
                       key=lambda i: (i.span.file, i.span.line, i.span.column)):
        want.setdefault(_DECL_KIND[type(item)], {}).setdefault(item.id.key, item)
    for kind, table in got.tables.items():
        expected = want.get(kind, {})
        assert list(table) == list(expected)
        assert all(table[k] is expected[k] for k in table)


def test_a_bundle_replaced_by_a_reload_is_freed_without_the_cyclic_collector(tmp_path):
    """`lawful serve` freezes the heap after a reload without a full collection (`settle_heap(full=False)`):
    that is only sound if a bundle holds no reference cycles, so the one a reload replaced goes by reference
    counting alone, frozen or not — checked here with the collector off, through reloads that reuse, that
    change the environment and that fail."""
    import gc
    import weakref

    from engine.ops.service import BundleHolder, settle_heap

    root = _bundle(tmp_path)
    holder = BundleHolder(root)
    holder.freeze_after_swap = True
    was = gc.isenabled()
    try:
        settle_heap()
        gc.disable()
        edits = [("agreements-1.policy", '"agreement 1"', '"agreement one"', True),
                 ("vocabulary.policy", '"A department"', '"The department"', True),
                 ("agreements-2.policy", "under G1", "under G9", False),  # refused: the good bundle stays
                 ("agreements-2.policy", '"agreement 6"', '"agreement six"', False),  # still refused
                 ("agreements-2.policy", "under G9", "under G1", True)]
        for name, old, new, swaps in edits:
            served = weakref.ref(holder.current.policy)
            lent = weakref.ref(holder._loader._checked)
            _edit(root / "policies" / name, old, new)
            assert holder.reload("test") is swaps
            if swaps:  # the replaced policy is gone, and so is the check lent to this reload (the parses stay in
                assert served() is None  # their cache; a refused reload's exception may hold its own check in
                assert lent() is None  # a cycle until the next collection, which the swap's settling makes)
        # and nothing of the engine's was left in a cycle that only a full collection would have found
        gc.unfreeze()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        leaked = [type(o).__qualname__ for o in gc.garbage if type(o).__module__.startswith("engine.")]
        assert not leaked
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was:
            gc.enable()
        gc.unfreeze()
