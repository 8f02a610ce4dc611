"""Issue 19, item 4: the compiled-bundle cache must never unpickle what another user could have written.

Each test plants a pickle whose unpickling creates a marker file (a stand-in for running any code) where the
engine would look for a cache entry, in one of the ways that worked before: an entry owned by another user
with mode 0666, an entry that is a symbolic link, an entry in a folder whose parent others may write (the
rename race), a forged entry without the key, and Lark's own table cache. The engine (the victim, running
as root here, as in the report) must answer correctly and the marker must never appear.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import pickle
import pwd
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import engine
from conftest import LSC_ALI_POLICY, write_bundle
from engine.base import cachedir
from engine.policy import cache
from victim import drop_privileges_prefix, world_dir

D = dt.date(2005, 6, 23)

POLICY = LSC_ALI_POLICY

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="planting files owned by another user needs root")


class Payload:
    """Unpickling this opens (creates) the marker file: proof that unpickling ran attacker-chosen code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def evil_pickle(marker: Path) -> bytes:
    return pickle.dumps(("any-key", Payload(marker)), protocol=pickle.HIGHEST_PROTOCOL)


def tagged(folder: Path, name: str, payload: bytes) -> bytes:
    """An entry as the engine writes it, authenticated with the folder's real key (as if the attacker had it).
    Against an engine without authenticated entries (before the fix) it is the bare pickle it would read."""
    key_path = folder / getattr(cachedir, "KEY_NAME", "key")
    if not key_path.exists():
        return payload
    tag = hmac.new(key_path.read_bytes(), b"lawful-cache\0" + name.encode() + b"\0" + payload, hashlib.sha256).digest()
    return cachedir.MAGIC + tag + payload


@pytest.fixture
def setup(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(cachedir.ENV_DIR, str(folder))
    monkeypatch.delenv(cachedir.ENV_DISABLE, raising=False)
    root = write_bundle(tmp_path / "b", {"main.policy": POLICY})
    engine.load(root)  # a first load writes the key and the entry
    (entry,) = sorted(folder.glob("bundle-*.pickle"))
    return folder, root, entry, tmp_path / "PWNED"


def answers_right(root: Path) -> bool:
    return engine.load(root).allowed("LSC", "ALI", "provider-data", "inspection", on=D) is True


def nobody() -> tuple[int, int]:
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


@needs_root
def test_an_entry_owned_by_another_user_is_not_unpickled_even_with_a_valid_tag(setup):
    folder, root, entry, marker = setup
    entry.write_bytes(tagged(folder, entry.name, evil_pickle(marker)))
    os.chown(entry, *nobody())
    os.chmod(entry, 0o666)
    assert answers_right(root)
    assert not marker.exists()


def test_a_private_entry_readable_by_others_is_not_trusted(setup):
    folder, root, entry, marker = setup
    entry.write_bytes(tagged(folder, entry.name, evil_pickle(marker)))
    os.chmod(entry, 0o644)
    assert answers_right(root)
    assert not marker.exists()


def test_an_entry_that_is_a_symbolic_link_is_not_followed(setup, tmp_path):
    folder, root, entry, marker = setup
    elsewhere = tmp_path / "planted"
    elsewhere.write_bytes(tagged(folder, entry.name, evil_pickle(marker)))
    os.chmod(elsewhere, 0o600)
    entry.unlink()
    entry.symlink_to(elsewhere)
    assert answers_right(root)
    assert not marker.exists()


def test_a_forged_entry_without_the_key_is_refused_before_unpickling(setup):
    folder, root, entry, marker = setup
    forged = cachedir.MAGIC + b"\0" * cachedir.TAG_BYTES + evil_pickle(marker)
    entry.write_bytes(forged)
    os.chmod(entry, 0o600)
    assert answers_right(root)
    assert not marker.exists()
    # the old format (a bare pickle, as entries were written before) is refused the same way
    entry.write_bytes(evil_pickle(marker))
    assert answers_right(root)
    assert not marker.exists()


def test_an_authentic_entry_renamed_into_another_place_is_refused(setup, tmp_path):
    folder, root, entry, marker = setup
    other = write_bundle(tmp_path / "c", {"main.policy": POLICY.replace("allows LSC -> ALI", "allows ALI -> LSC")})
    engine.load(other)
    (other_entry,) = [e for e in folder.glob("bundle-*.pickle") if e != entry]
    os.replace(other_entry, entry)  # the tag covers the entry's name
    assert answers_right(root)


def test_even_an_authentic_private_entry_may_only_hold_the_engines_data(setup):
    """Last line: an entry that passes every other check (as if the key had leaked) is unpickled with an
    allow-list of the engine's data classes, so `open`, `os.system` and friends cannot be called."""
    folder, root, entry, marker = setup
    entry.write_bytes(tagged(folder, entry.name, evil_pickle(marker)))
    os.chmod(entry, 0o600)
    assert answers_right(root)
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):
        cache.safe_loads(evil_pickle(marker))
    assert not marker.exists()


def test_a_key_that_others_could_read_or_that_is_not_ours_disables_the_cache(setup):
    folder, root, entry, marker = setup
    key = folder / cachedir.KEY_NAME
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.stat().st_size == cachedir.KEY_BYTES
    os.chmod(key, 0o644)
    assert cachedir.PrivateCache.open() is None
    assert answers_right(root)
    os.chmod(key, 0o600)
    assert cachedir.PrivateCache.open() is not None


@pytest.mark.parametrize("parent_mode", [0o777, 0o770], ids=["world-writable", "group-writable"])
def test_a_cache_folder_under_a_folder_others_may_write_is_not_used(tmp_path, monkeypatch, parent_mode):
    parent = tmp_path / "shared"
    parent.mkdir()
    os.chmod(parent, parent_mode)
    folder = parent / "cache"
    monkeypatch.setenv(cachedir.ENV_DIR, str(folder))
    monkeypatch.delenv(cachedir.ENV_DISABLE, raising=False)
    root = write_bundle(tmp_path / "b", {"main.policy": POLICY})
    assert answers_right(root)
    assert cachedir.cache_dir() is None
    assert not list(folder.glob("*")) if folder.exists() else True


def test_a_sticky_world_writable_parent_like_tmp_is_accepted_for_our_own_folder(tmp_path, monkeypatch):
    """The decision for /tmp: others may write there, but the sticky bit stops them renaming what they do not
    own, so a folder of ours below it is safe; one they made is not (next test)."""
    parent = tmp_path / "tmp-like"
    parent.mkdir()
    os.chmod(parent, 0o1777)
    folder = parent / "cache"
    monkeypatch.setenv(cachedir.ENV_DIR, str(folder))
    monkeypatch.delenv(cachedir.ENV_DISABLE, raising=False)
    assert cachedir.cache_dir() == folder
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


@needs_root
def test_a_folder_another_user_made_in_a_sticky_parent_is_not_used(tmp_path, monkeypatch):
    parent = tmp_path / "tmp-like"
    parent.mkdir()
    os.chmod(parent, 0o1777)
    folder = parent / "cache"
    folder.mkdir(mode=0o700)
    os.chown(folder, *nobody())  # planted in advance by another user
    monkeypatch.setenv(cachedir.ENV_DIR, str(folder))
    monkeypatch.delenv(cachedir.ENV_DISABLE, raising=False)
    assert cachedir.cache_dir() is None
    root = write_bundle(tmp_path / "b", {"main.policy": POLICY})
    assert answers_right(root)
    assert list(folder.iterdir()) == []


RACER = r"""
import os, sys, time
parent, name, payload_path, stop_at = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
payload = open(payload_path, "rb").read()
mine = os.path.join(parent, "mine")
os.makedirs(mine, exist_ok=True)
os.chmod(mine, 0o755)
with open(os.path.join(mine, name), "wb") as f:
    f.write(payload)
os.chmod(os.path.join(mine, name), 0o666)
cache, aside = os.path.join(parent, "cache"), os.path.join(parent, "aside")
n = 0
while time.time() < stop_at:
    # The victim's own folder is in place most of the time (so its checks pass), and for a moment a link to
    # the attacker's folder, holding a payload under the entry's name, stands in its place.
    try:
        os.rename(cache, aside)
        os.symlink(mine, cache)
        os.unlink(cache)
        os.rename(aside, cache)
        n += 1
    except OSError:
        time.sleep(0.001)
print(n)
"""


@needs_root
def test_the_rename_race_on_a_writable_parent_never_runs_a_payload(tmp_path, monkeypatch):
    """The report's race: an attacker who may write the cache folder's parent keeps swapping the folder for
    one of its own holding a payload under the right entry name while root loads the bundle. Before, a
    payload ran within 11 loads; now the folder is refused outright."""
    prefix = drop_privileges_prefix()
    top = world_dir()
    try:
        parent = top / "shared"
        parent.mkdir()
        os.chmod(parent, 0o777)
        folder = parent / "cache"
        monkeypatch.setenv(cachedir.ENV_DIR, str(folder))
        monkeypatch.delenv(cachedir.ENV_DISABLE, raising=False)
        root = write_bundle(tmp_path / "b", {"main.policy": POLICY})
        texts = cache._read_inputs(root)
        name = f"bundle-{cache.key_of_texts(str(root), texts, dt.date.today().isoformat())}.pickle"
        marker = top / "PWNED"
        os.chmod(top, 0o777)  # so the payload could create the marker, whoever ran it
        payload_path = top / "payload"
        payload_path.write_bytes(evil_pickle(marker))
        os.chmod(payload_path, 0o644)
        assert answers_right(root)  # the victim's folder (and, before the fix, its entry) exists first
        racer = subprocess.Popen([*prefix, sys.executable, "-c", RACER, str(parent), name, str(payload_path),
                                  str(time.time() + 4)], stdout=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 4
            while time.time() < deadline and not marker.exists():
                try:
                    engine.load(root)
                except Exception:  # noqa: BLE001 — a load that fails while the folder moves is not the point
                    pass
        finally:
            swaps = racer.communicate(timeout=30)[0]
        assert int(swaps) > 0
        assert not marker.exists()
    finally:
        subprocess.run(["rm", "-rf", str(top)], check=False)


def test_lark_tables_are_private_authenticated_and_plain_data(tmp_path, monkeypatch):
    from engine.syntax import parser as parser_mod

    folder = tmp_path / "cache"
    monkeypatch.setenv(cachedir.ENV_DIR, str(folder))
    monkeypatch.delenv(cachedir.ENV_DISABLE, raising=False)
    parser_mod._parser.cache_clear()
    try:
        first = parser_mod.parser()
        (tables,) = folder.glob("grammar-*.tables")
        assert stat.S_IMODE(tables.stat().st_mode) == 0o600
        assert not list(folder.glob("*.lark-cache"))  # Lark's own pickle cache is not used
        marker = tmp_path / "PWNED"
        # an authentic entry holding a pickle that calls something: refused by the data-only unpickler
        tables.write_bytes(tagged(folder, tables.name, pickle.dumps(Payload(marker))))
        os.chmod(tables, 0o600)
        parser_mod._parser.cache_clear()
        again = parser_mod.parser()
        assert not marker.exists()
        assert again.parse('organisation A "a"') == first.parse('organisation A "a"')
        # a file at the place Lark's own cache would be is never read
        (folder / f"grammar-{cachedir.engine_fingerprint()[:16]}.lark-cache").write_bytes(pickle.dumps(Payload(marker)))
        parser_mod._parser.cache_clear()
        parser_mod.parser()
        assert not marker.exists()
    finally:
        parser_mod._parser.cache_clear()


def test_nothing_the_cache_writes_is_open_to_others(setup):
    folder, root, entry, marker = setup
    from engine.syntax import parser as parser_mod

    parser_mod._parser.cache_clear()
    parser_mod.parser()
    parser_mod._parser.cache_clear()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for p in folder.iterdir():
        assert stat.S_IMODE(p.lstat().st_mode) & 0o077 == 0, p
