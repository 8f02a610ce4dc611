"""The compiled-bundle cache (engine/cache.py): a hit answers like a fresh load; a stale entry never answers."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import time
from pathlib import Path

import pytest

import engine
from engine.base import cachedir
import engine.policy.load

from conftest import LSC_ALI_POLICY, write_bundle

D = dt.date(2005, 6, 23)

POLICY = LSC_ALI_POLICY

BAR = """\
restriction BAR "A bar" {
  statute LSA-2000 "section 2"
  forbids LSC -> ALI
}
"""


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("bundle-*.pickle"))


def test_second_load_is_a_hit_and_answers_the_same(cache_dir, tmp_path, monkeypatch):
    root = write_bundle(tmp_path / "b", {"main.policy": POLICY})
    first = engine.load(root)
    assert len(entries(cache_dir)) == 1

    def no_parsing(*_a, **_k):
        raise AssertionError("a cache hit must not read and parse the bundle")

    monkeypatch.setattr(engine.policy.load, "read_bundle", no_parsing)
    second = engine.load(root)
    assert second is not first
    assert second.allowed("LSC", "ALI", "provider-data", "inspection", on=D) is True
    assert (second.decide("LSC", "ALI", "provider-data", "inspection", on=D).to_dict()
            == first.decide("LSC", "ALI", "provider-data", "inspection", on=D).to_dict())
    assert [d.to_dict() for d in second.warnings] == [d.to_dict() for d in first.warnings]


def test_an_edited_file_is_never_answered_from_the_cache(cache_dir, tmp_path):
    root = write_bundle(tmp_path / "b", {"main.policy": POLICY})
    assert engine.load(root).allowed("LSC", "ALI", "provider-data", "inspection", on=D) is True
    (root / "policies" / "main.policy").write_text(POLICY + BAR, encoding="utf-8")
    assert engine.load(root).allowed("LSC", "ALI", "provider-data", "inspection", on=D) is False


def test_an_added_or_removed_file_changes_the_key(cache_dir, tmp_path):
    root = write_bundle(tmp_path / "b", {"main.policy": POLICY})
    assert engine.load(root).allowed("LSC", "ALI", "provider-data", "inspection", on=D) is True
    (root / "policies" / "sub").mkdir()
    (root / "policies" / "sub" / "bar.policy").write_text(BAR, encoding="utf-8")
    assert engine.load(root).allowed("LSC", "ALI", "provider-data", "inspection", on=D) is False
    (root / "policies" / "sub" / "bar.policy").unlink()
    assert engine.load(root).allowed("LSC", "ALI", "provider-data", "inspection", on=D) is True


def test_an_edited_register_changes_the_key(cache_dir, tmp_path):
    root = write_bundle(tmp_path / "b", {"main.policy": POLICY})
    assert engine.load(root).allowed("LSC", "ALI", "provider-data", "inspection", on=D) is True
    reg = (root / "gateways.yaml").read_text(encoding="utf-8")
    (root / "gateways.yaml").write_text(reg.replace("commenced: 2000-07-28", "commenced: 2006-01-01"), encoding="utf-8")
    assert engine.load(root).allowed("LSC", "ALI", "provider-data", "inspection", on=D) is False


def test_a_broken_bundle_is_not_cached_and_still_reports(cache_dir, tmp_path):
    root = write_bundle(tmp_path / "b", {"main.policy": POLICY + "gateway {"})
    for _ in range(2):
        with pytest.raises(engine.DiagnosticsError):
            engine.load(root)
    assert entries(cache_dir) == []


def test_a_corrupt_or_foreign_entry_is_a_miss(cache_dir, tmp_path):
    root = write_bundle(tmp_path / "b", {"main.policy": POLICY})
    engine.load(root)
    (entry,) = entries(cache_dir)
    entry.write_bytes(b"not a pickle")
    assert engine.load(root).allowed("LSC", "ALI", "provider-data", "inspection", on=D) is True
    # an entry whose stored key differs from its name (a copied or tampered file) is ignored too
    other = write_bundle(tmp_path / "c", {"main.policy": POLICY + BAR})
    engine.load(other)
    for e in entries(cache_dir):
        payload = e.read_bytes()[len(cachedir.MAGIC) + cachedir.TAG_BYTES:]  # after the magic and the HMAC tag
        key, _policy = pickle.loads(payload)
        assert e.name == f"bundle-{key}.pickle"
    good = [e for e in entries(cache_dir)]
    src, dst = good[0], good[1]
    dst.write_bytes(src.read_bytes())
    assert engine.load(root).allowed("LSC", "ALI", "provider-data", "inspection", on=D) is True
    assert engine.load(other).allowed("LSC", "ALI", "provider-data", "inspection", on=D) is False


def test_disabled_and_unsafe_folders_are_not_used(tmp_path, monkeypatch):
    root = write_bundle(tmp_path / "b", {"main.policy": POLICY})
    folder = tmp_path / "cache"
    monkeypatch.setenv(cachedir.ENV_DIR, str(folder))
    monkeypatch.setenv(cachedir.ENV_DISABLE, "1")
    engine.load(root)
    assert not folder.exists()
    monkeypatch.delenv(cachedir.ENV_DISABLE)
    folder.mkdir(mode=0o777)
    os.chmod(folder, 0o777)  # writable by others: someone else could plant a pickle
    engine.load(root)
    assert entries(folder) == []
    os.chmod(folder, 0o700)
    engine.load(root)
    assert len(entries(folder)) == 1
    assert (entries(folder)[0].stat().st_mode & 0o077) == 0


def test_symbolic_links_are_not_cached(cache_dir, tmp_path):
    root = write_bundle(tmp_path / "b", {"main.policy": POLICY})
    (root / "policies" / "link.policy").symlink_to(root / "policies" / "main.policy")
    with pytest.raises(engine.DiagnosticsError):
        engine.load(root)  # the same id declared twice: the link is read like a file
    (root / "policies" / "link.policy").unlink()
    engine.load(root)
    n = len(entries(cache_dir))
    (root / "policies" / "other.policy").symlink_to(tmp_path / "elsewhere.policy")
    with pytest.raises(engine.DiagnosticsError):
        engine.load(root)  # reported by the pipeline (unsafe-path or unreadable), not answered from the cache
    assert len(entries(cache_dir)) == n


def test_the_same_files_at_another_path_are_another_entry(cache_dir, tmp_path):
    a = write_bundle(tmp_path / "a", {"main.policy": POLICY})
    b = write_bundle(tmp_path / "b", {"main.policy": POLICY})
    assert engine.load(a).root != engine.load(b).root
    assert len(entries(cache_dir)) == 2


def test_the_engine_fingerprint_covers_the_grammar():
    # a changed grammar or engine module must invalidate every entry: the fingerprint stamps them all
    fp = cachedir.engine_fingerprint()
    assert len(fp) == 64
    stamped = {line.split("\0")[0] for line in cachedir._tree_stamp(str(Path(engine.__file__).parent))}
    on_disk = {p.relative_to(Path(engine.__file__).parent).as_posix()
               for p in Path(engine.__file__).parent.rglob("*")
               if p.suffix in (".py", ".lark", ".json") and "__pycache__" not in p.parts}
    assert stamped == on_disk
    assert {"syntax/grammar.lark", "compile/compiled.py", "eval/decide.py", "schemas/gateways.schema.json"} <= stamped


def _tree(root: Path) -> Path:
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "rules.py").write_text("ALLOW = True\n")
    (root / "grammar.lark").write_text("start: WORD\n")
    (root / "pkg" / "__pycache__" / "rules.cpython.pyc").write_bytes(b"x")
    (root / "notes.txt").write_text("not code")
    return root


def test_an_edit_that_keeps_size_and_modification_time_still_changes_the_fingerprint(tmp_path):
    # The attack on a stat-based key: rewrite a module with the same number of bytes and put its modification
    # time back (`touch -r`, `cp -p`, `rsync -t`). The change time cannot be put back: the stamp differs.
    root = _tree(tmp_path)
    target = root / "pkg" / "rules.py"
    before = cachedir._tree_stamp(str(root))
    st = os.stat(target)
    time.sleep(0.05)  # past the file system's timestamp granularity (a few ms on Linux)
    target.write_text("ALLOW = Fals\n")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = os.stat(target)
    assert (after.st_size, after.st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert cachedir._tree_stamp(str(root)) != before


def test_a_file_replaced_added_or_removed_changes_the_fingerprint_and_caches_and_others_do_not(tmp_path):
    root = _tree(tmp_path)
    before = cachedir._tree_stamp(str(root))
    assert cachedir._tree_stamp(str(root)) == before  # nothing changed: the same stamp (entries are reused)
    (root / "notes.txt").write_text("still not code")
    (root / "pkg" / "__pycache__" / "rules.cpython.pyc").write_bytes(b"y")
    assert cachedir._tree_stamp(str(root)) == before  # not engine source: ignored
    replacement = tmp_path / "rules.new"
    replacement.write_text("ALLOW = True\n")
    st = os.stat(root / "pkg" / "rules.py")
    os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(replacement, root / "pkg" / "rules.py")  # the same bytes and times, another file
    replaced = cachedir._tree_stamp(str(root))
    assert replaced != before
    (root / "pkg" / "more.py").write_text("")
    added = cachedir._tree_stamp(str(root))
    assert added != replaced and len(added) == len(replaced) + 1
    (root / "pkg" / "more.py").unlink()
    assert cachedir._tree_stamp(str(root)) == replaced
