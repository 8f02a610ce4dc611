"""Each policy file's parse remembered by its content (engine/bundle/parsecache.py, issue 18 target 3): after an
edit only the edited file is parsed again; a parse from memory or from the private folder gives exactly what
parsing gives; a tampered or foreign entry is a miss, never an error and never unpickled into anything but the
syntax model."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import engine
import engine.syntax.fastparse
from conftest import ROOT, write_bundle
from engine.base import cachedir
from engine.base.source import SourceFile
from engine.bundle import parsecache
from engine.bundle.read import read_bundle

D = dt.date(2005, 6, 23)

ORGS = """\
organisation LSC "Learning and Skills Council"
organisation ALI "Adult Learning Inspectorate"
data provider-data "Provider data"
purpose inspection "Inspection"
"""
GATEWAY = """\
gateway LSC-INSPECTION "LSC may give provider data to inspectorates" {
  statute LSA-2000 "section 1"
  allows LSC -> ALI
  data provider-data
  for inspection
}
"""
BAR = """\
restriction BAR "A bar" {
  statute LSA-2000 "section 2"
  forbids LSC -> ALI
}
"""


@pytest.fixture
def parsed_files(monkeypatch) -> list[str]:
    """The names of the files a parser is actually asked to parse (the hand-written one is asked first)."""
    seen: list[str] = []
    real = engine.syntax.fastparse.parse_fast

    def counting(source, *args, **kwargs):
        seen.append(source.name)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(engine.syntax.fastparse, "parse_fast", counting)
    return seen


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("parse-*.pickle"))


def test_after_an_edit_only_the_edited_file_is_parsed(cache_dir, tmp_path, parsed_files):
    root = write_bundle(tmp_path / "b", {"orgs.policy": ORGS, "gw.policy": GATEWAY})
    assert engine.load(root).allowed("LSC", "ALI", "provider-data", "inspection", on=D)
    assert sorted(parsed_files) == ["policies/gw.policy", "policies/orgs.policy"]
    assert len(entries(cache_dir)) == 3  # the two files and gateways.yaml
    parsed_files.clear()
    (root / "policies" / "gw.policy").write_text(GATEWAY + BAR, encoding="utf-8")
    policy = engine.load(root)
    assert parsed_files == ["policies/gw.policy"]
    assert not policy.allowed("LSC", "ALI", "provider-data", "inspection", on=D)  # the edit took effect


def test_a_fresh_process_reads_the_unchanged_files_from_the_folder(cache_dir, tmp_path, parsed_files):
    root = write_bundle(tmp_path / "b", {"orgs.policy": ORGS, "gw.policy": GATEWAY})
    first = read_bundle(root)
    parsecache.forget()  # as a new process: nothing in memory
    parsed_files.clear()
    again = read_bundle(root)
    assert parsed_files == []
    assert again.bundle == first.bundle
    assert [f.items for f in again.bundle.files] == [f.items for f in first.bundle.files]
    # spans are not compared by `==` on the model (compare=False): check them too
    spans = lambda b: [(i.span, i.id.span) for f in b.files for i in f.items]  # noqa: E731
    assert spans(again.bundle) == spans(first.bundle)


def test_syntax_errors_come_back_identical_from_memory_and_from_the_folder(cache_dir, tmp_path, parsed_files):
    broken = ORGS + 'gateway G "x" {\n  statute LSA-2000\n  allows LSC ->\n}\n'
    root = write_bundle(tmp_path / "b", {"orgs.policy": broken})
    first = read_bundle(root).diagnostics
    assert any(d.code == "parse-error" for d in first), first
    assert read_bundle(root).diagnostics == first  # memory
    parsecache.forget()
    parsed_files.clear()
    assert read_bundle(root).diagnostics == first  # folder
    assert parsed_files == []


def test_the_same_text_under_another_name_is_parsed_again(cache_dir, parsed_files):
    a = parsecache.ParseCache().parse(SourceFile("policies/a.policy", ORGS))
    b = parsecache.ParseCache().parse(SourceFile("policies/b.policy", ORGS))
    assert parsed_files == ["policies/a.policy", "policies/b.policy"]
    assert a[0].items[0].span.file == "policies/a.policy" and b[0].items[0].span.file == "policies/b.policy"


def test_a_tampered_entry_is_a_miss_and_is_parsed_again(cache_dir, parsed_files):
    src = SourceFile("policies/a.policy", ORGS)
    expected = parsecache.ParseCache().parse(src)
    [entry] = entries(cache_dir)
    data = bytearray(entry.read_bytes())
    data[-5] ^= 0xFF  # one byte of the pickle changed: the HMAC no longer verifies
    entry.write_bytes(bytes(data))
    parsecache.forget()
    parsed_files.clear()
    assert parsecache.ParseCache().parse(src) == expected
    assert parsed_files == ["policies/a.policy"]


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_an_authentic_entry_holding_anything_but_the_model_is_not_unpickled(cache_dir, parsed_files):
    # Even with the folder's key (an attacker who has it has the user's files anyway), an entry that asks for
    # any class outside the syntax model is refused and the file parsed again.
    src = SourceFile("policies/a.policy", ORGS)
    expected = parsecache.ParseCache().parse(src)
    [entry] = entries(cache_dir)
    key = parsecache._key(src)
    store = cachedir.PrivateCache.open()
    store.put(entry.name, pickle.dumps((key, (_Boom(), ()))))
    parsecache.forget()
    parsed_files.clear()
    assert parsecache.ParseCache().parse(src) == expected
    assert parsed_files == ["policies/a.policy"]


def test_without_the_folder_memory_still_serves_and_nothing_is_written(tmp_path, monkeypatch, parsed_files):
    monkeypatch.setenv(cachedir.ENV_DIR, str(tmp_path / "cache"))
    monkeypatch.setenv(cachedir.ENV_DISABLE, "1")
    parsecache.forget()
    root = write_bundle(tmp_path / "b", {"orgs.policy": ORGS, "gw.policy": GATEWAY})
    read_bundle(root)
    read_bundle(root)
    assert sorted(parsed_files) == ["policies/gw.policy", "policies/orgs.policy"]
    assert not (tmp_path / "cache").exists()
    parsecache.forget()


def test_memory_is_bounded_by_the_size_of_the_texts():
    memory = parsecache._Memory(limit=100)
    for i in range(10):
        memory.put(f"k{i}", 30, (None, ()))
    assert memory.size <= 100 and list(memory.items) == ["k7", "k8", "k9"]
    assert memory.get("k0") is None and memory.get("k9") == (None, ())
    memory.put("huge", 1000, (None, ()))
    assert memory.get("huge") is None


def test_after_editing_a_policy_file_a_fresh_process_needs_neither_yaml_nor_json_schema(cache_dir, tmp_path):
    # gateways.yaml's parse is remembered too: reading it needs YAML and validating it JSON Schema (~50 ms of
    # imports), which a load after an edit to a policy file no longer pays.
    root = write_bundle(tmp_path / "b", {"orgs.policy": ORGS, "gw.policy": GATEWAY})
    code = ("import sys, engine\n"
            f"engine.load({str(root)!r})\n"
            "print('MODULES', ' '.join(sorted(sys.modules)))\n")
    env = {**os.environ, cachedir.ENV_DIR: str(cache_dir)}
    env.pop(cachedir.ENV_DISABLE, None)

    def modules() -> set[str]:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                           timeout=120)
        assert p.returncode == 0, p.stderr
        return set(p.stdout.rpartition("MODULES ")[2].split())

    first = modules()
    assert {"yaml", "engine.syntax.register_validator"} <= first  # the first load parses everything
    assert "jsonschema" not in first  # a valid register is accepted by the generated validator (issue 18)
    (root / "policies" / "gw.policy").write_text(GATEWAY + BAR, encoding="utf-8")
    after_edit = modules()
    assert "engine.check.checks" in after_edit  # checked and compiled again: the compiled entry missed
    assert not after_edit & {"yaml", "jsonschema", "engine.syntax.register_validator"}


def test_a_file_the_hand_written_parser_declines_gets_lark_s_answer_and_diagnostics(cache_dir):
    # a syntax error: the hand-written parser declines, Lark parses and writes the diagnostic — exactly what
    # parse_source gives
    from engine.syntax.parser import parse_source

    src = SourceFile("policies/bad.policy", ORGS + "gateway G {\n  allows ->\n}\n")
    assert engine.syntax.fastparse.parse_fast(src) is None
    got = parsecache.ParseCache().parse(src)
    assert got == parse_source(src) and got[0] is None and got[1]


def test_a_valid_bundle_is_loaded_without_importing_lark(tmp_path):
    root = write_bundle(tmp_path / "b", {"orgs.policy": ORGS, "gw.policy": GATEWAY})
    code = f"import sys, engine\nengine.load({str(root)!r})\nprint('MODULES', ' '.join(sorted(sys.modules)))\n"
    env = {**os.environ, cachedir.ENV_DISABLE: "1"}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    mods = set(p.stdout.rpartition("MODULES ")[2].split())
    assert "engine.syntax.fastparse" in mods and "lark" not in mods


def test_the_folder_keeps_a_bounded_number_of_bytes(cache_dir, monkeypatch):
    monkeypatch.setattr(parsecache, "DISK_BYTES", 1)  # every entry is over: only what was just written goes
    cache = parsecache.ParseCache()
    cache.parse(SourceFile("policies/a.policy", ORGS))
    cache.parse(SourceFile("policies/b.policy", ORGS))
    assert len(entries(cache_dir)) == 2
    cache.close()
    assert entries(cache_dir) == []
