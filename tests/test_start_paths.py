"""What a fresh process imports on the way to its first answer (issue 18, targets 1 and 2): the checks find
loops in the trees without networkx when there are none, and the cache key is computed without
importlib.metadata. Each import is tens of milliseconds of a start-up that is itself about 0.1 s."""

from __future__ import annotations

import os
import subprocess
import sys

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT
from engine.base import cachedir
from engine.base.hierarchy import _has_loop, find_cycles, sorted_cycle

NODES = st.sampled_from([f"n{i}" for i in range(8)] + ["outside"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([f"n{i}" for i in range(8)]), st.none() | NODES, max_size=8))
def test_the_loop_test_agrees_with_networkx(parents):
    g: nx.DiGraph = nx.DiGraph()
    g.add_nodes_from(parents)
    g.add_edges_from((c, p) for c, p in parents.items() if p is not None and p in parents)
    expected = sorted(sorted_cycle(c) for c in nx.simple_cycles(g))
    assert _has_loop(parents) == bool(expected)
    assert find_cycles(parents) == expected


def test_loops_are_still_found_and_reported_in_order():
    assert find_cycles({"a": "b", "b": "c", "c": "a", "d": "a", "e": None}) == [["a", "b", "c"]]
    assert find_cycles({"x": "x"}) == [["x"]]
    assert find_cycles({"a": "b", "b": None, "c": "missing"}) == []


def _imported(code: str, **env_extra: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if k != "LAWFUL_BUNDLE"}
    env.update(env_extra)
    code += "\nimport sys\nprint('MODULES', ' '.join(sorted(sys.modules)))\n"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    return set(p.stdout.rpartition("MODULES ")[2].split())


FIRST_ANSWER = ("import datetime, engine\n"
                "engine.load().decide('JCP', 'ALI', 'provider-data', 'inspection', on=datetime.date(2005, 6, 23))")


def test_loading_from_text_does_not_import_networkx(tmp_path):
    # a cold cache: parse, check (loops in the trees included) and compile the default bundle
    mods = _imported(FIRST_ANSWER, LAWFUL_CACHE_DIR=str(tmp_path / "cache"))
    assert "engine.check.checks" in mods
    assert "networkx" not in mods


def test_the_first_answer_from_the_cache_does_not_import_importlib_metadata(tmp_path):
    cache = str(tmp_path / "cache")
    _imported(FIRST_ANSWER, LAWFUL_CACHE_DIR=cache)  # writes the entry
    mods = _imported(FIRST_ANSWER, LAWFUL_CACHE_DIR=cache)
    assert "engine.policy.cache" in mods and "engine.check.checks" not in mods  # the checks only on a miss
    assert not mods & {"importlib.metadata", "networkx", "lark", "yaml", "jsonschema"}, mods & {
        "importlib.metadata", "networkx", "lark", "yaml", "jsonschema"}


def test_the_fingerprint_follows_the_installed_lark(monkeypatch, tmp_path):
    fake = tmp_path / "lark" / "__init__.py"
    fake.parent.mkdir()
    fake.write_text('__version__ = "0.0.1"\n')
    before = cachedir._lark_stamp()
    assert b"__version__" in before
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lark", raising=False)
    assert cachedir._lark_stamp() == fake.read_bytes() != before
