"""Issue 19, item 8: the decision log could be forged or laundered.

The attacks, each performed below against a real log written by `AuditLog` (and checked through
`lawful log verify`):
- anyone who could write the file could append a correctly chained forged ALLOW (the chain had no key);
- hashing re-parsed JSON let CRLF line ends and a duplicated key placed first (`"headline":"ALLOWED…"`) verify;
- cutting the last record short and appending once made `verify` call the cut "a torn write … sealed" and exit
  0, so a decision that was given was recorded as never given;
- cutting whole records off the end cannot be seen from inside the file: the head must be anchored elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from conftest import D2005, ROOT
from engine.ops.decision_log import AuditLog, canonical, create_key, line_hash, load_key_for, parse_line, verify_log
from engine.errors import AuditLogError
from engine.bundle.hashing import policy_hash

runner = CliRunner()


def _log(path: Path, policy, n: int, flow=("JCP", "ALI", "provider-data", "inspection")) -> list[dict]:
    log = AuditLog(path)
    d = policy.decide(*flow, on=D2005, fixes=False, routes=False)
    return [log.record(d, policy_hash(policy)) for _ in range(n)]


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def _verify_cli(path: Path, *extra: str):
    return runner.invoke(app, ["log", "verify", str(path), *extra])


def _forged_allow(last_line: bytes, seq: int, key_id: str, secret: bytes) -> dict:
    rec = json.loads(last_line)
    rec.update({"seq": seq, "prev": line_hash(last_line), "verdict": "allow", "headline": "ALLOWED — forged",
                "reason_ids": [], "key_id": key_id})
    rec.pop("mac")
    rec["mac"] = "hmac-sha256:" + hmac.new(secret, canonical(rec), hashlib.sha256).hexdigest()
    return rec


# ---- forging without the key -----------------------------------------------------------------------------


def test_a_correctly_chained_forged_allow_does_not_verify_without_the_key(tmp_path, default_policy):
    path = tmp_path / "d.jsonl"
    _log(path, default_policy, 3)
    lines = _lines(path)
    real = load_key_for(path)
    # The forger chains perfectly (prev = hash of the last line, next seq, the real key id) but has no key.
    for secret in (b"\0" * 32, os.urandom(32)):
        forged = _forged_allow(lines[-1], 4, real.key_id, secret)
        path.write_bytes(b"".join(x + b"\n" for x in lines) + canonical(forged) + b"\n")
        result = verify_log(path)
        assert not result.ok and result.problem[0] == 4 and "MAC" in result.problem[1], result
        out = _verify_cli(path)
        assert out.exit_code == 1 and ":4: error[audit-log-broken]" in out.output
        # ... and no writer extends a log that ends in a forgery.
        with pytest.raises(AuditLogError):
            _log(path, default_policy, 1)
    # The old, unkeyed chain's way to forge: a `hash` field recomputed over the record.
    old_style = json.loads(lines[-1])
    old_style.update({"seq": 4, "prev": line_hash(lines[-1]), "verdict": "allow"})
    old_style["mac"] = "sha256:" + hashlib.sha256(canonical(old_style)).hexdigest()
    path.write_bytes(b"".join(x + b"\n" for x in lines) + canonical(old_style) + b"\n")
    assert not verify_log(path).ok


def test_rewriting_the_whole_history_under_another_key_is_caught(tmp_path, default_policy):
    """Laundering: rewrite every record (a DENY made an ALLOW) and re-key the chain with a key of one's own."""
    path = tmp_path / "d.jsonl"
    _log(path, default_policy, 3)
    lines = _lines(path)
    mine = os.urandom(32)
    my_id = hashlib.sha256(b"lawful decision log key id\0" + mine).hexdigest()[:16]
    prev, out = "sha256:" + "0" * 64, []
    for raw in lines:
        rec = json.loads(raw)
        rec.update({"verdict": "allow", "prev": prev, "key_id": my_id})
        rec.pop("mac")
        rec["mac"] = "hmac-sha256:" + hmac.new(mine, canonical(rec), hashlib.sha256).hexdigest()
        out.append(canonical(rec))
        prev = line_hash(out[-1])
    path.write_bytes(b"".join(x + b"\n" for x in out))
    result = verify_log(path)
    assert not result.ok and result.problem[0] == 1 and "another key" in result.problem[1]


@pytest.mark.parametrize("swap", ["key-readable-by-others", "key-of-another-user", "key-is-a-symlink"])
def test_a_planted_or_exposed_key_is_refused(tmp_path, default_policy, swap):
    """Re-keying works only if the verifier can be made to read the forger's key: a key file that another
    user owns or could read or write, or a symbolic link, is refused (exit 2), never used."""
    path = tmp_path / "d.jsonl"
    _log(path, default_policy, 2)
    key = tmp_path / "d.jsonl.key"
    if swap == "key-readable-by-others":
        key.chmod(0o644)
    elif swap == "key-of-another-user":
        if os.geteuid() != 0:
            pytest.skip("changing a file's owner needs root")
        os.chown(key, 65534, 65534)
    else:
        elsewhere = tmp_path / "planted.key"
        create_key(elsewhere)
        key.unlink()
        key.symlink_to(elsewhere)
    with pytest.raises(AuditLogError):
        verify_log(path)
    out = _verify_cli(path)
    assert out.exit_code == 2 and "error[audit-log]" in out.output, out.output
    # The writer refuses it too: no decision is given (exit 2), nothing appended.
    before = path.read_bytes()
    r = runner.invoke(app, ["can-share", "LSC", "ALI", "provider-data", "--purpose", "inspection", "--on",
                            "2005-06-23", "--bundle", str(ROOT), "--audit-log", str(path)])
    assert r.exit_code == 2 and "ALLOW" not in r.output and path.read_bytes() == before


def test_a_log_with_records_is_never_extended_under_a_new_key(tmp_path, default_policy):
    path = tmp_path / "d.jsonl"
    _log(path, default_policy, 2)
    (tmp_path / "d.jsonl.key").unlink()  # deleting the key must not let a writer start a fresh one mid-log
    before = path.read_bytes()
    with pytest.raises(AuditLogError, match="key .* is missing"):
        _log(path, default_policy, 1)
    assert path.read_bytes() == before and not (tmp_path / "d.jsonl.key").exists()


# ---- exact bytes ------------------------------------------------------------------------------------------


def test_crlf_line_ends_do_not_verify(tmp_path, default_policy):
    path = tmp_path / "d.jsonl"
    _log(path, default_policy, 3)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    result = verify_log(path)
    assert not result.ok and result.problem[0] == 1 and "canonical" in result.problem[1], result
    assert _verify_cli(path).exit_code == 1


@pytest.mark.parametrize("where", ["first", "last"])
def test_a_duplicated_key_does_not_verify(tmp_path, default_policy, where):
    """A JSON parser keeps the last of two equal keys; a reader that keeps the first sees `ALLOWED`."""
    path = tmp_path / "d.jsonl"
    recs = _log(path, default_policy, 3)
    assert recs[1]["verdict"] == "deny"
    lines = _lines(path)
    dup = b'"headline":"ALLOWED \xe2\x80\x94 forged","verdict":"allow",'
    lines[1] = (b"{" + dup + lines[1][1:]) if where == "first" else (lines[1][:-1] + b"," + dup[:-1] + b"}")
    path.write_bytes(b"".join(x + b"\n" for x in lines))
    result = verify_log(path)
    assert not result.ok and result.problem[0] == 2, result
    out = _verify_cli(path)
    assert out.exit_code == 1 and ":2: error[audit-log-broken]" in out.output


@pytest.mark.parametrize("edit", [
    (b'"seq":2,', b'"seq": 2,'),                 # whitespace
    (b"\xe2\x80\x94", b"\\u2014"),               # the same character, escaped
    (b'"v":2', b'"v":2.0'),                      # the same number, spelt differently
])
def test_any_other_spelling_of_the_same_record_does_not_verify(tmp_path, default_policy, edit):
    path = tmp_path / "d.jsonl"
    _log(path, default_policy, 3)
    lines = _lines(path)
    assert edit[0] in lines[1]
    lines[1] = lines[1].replace(*edit)
    assert json.loads(lines[1]) == json.loads(_lines(path)[1])  # re-parsed, it is the same record
    path.write_bytes(b"".join(x + b"\n" for x in lines))
    result = verify_log(path)
    assert not result.ok and result.problem[0] == 2, result


# ---- truncation ---------------------------------------------------------------------------------------


def test_a_record_cut_short_is_reported_by_every_later_verify_until_accepted(tmp_path, default_policy):
    """The issue's attack: cut the last record (a decision that was given), let one writer append, and the cut
    used to be sealed as a torn write and verify with exit 0."""
    path = tmp_path / "d.jsonl"
    _log(path, default_policy, 3)
    data = path.read_bytes()
    third = data.rstrip(b"\n").rfind(b"\n") + 1  # the offset of the third record
    path.write_bytes(data[:third + 40])  # the third decision, cut by hand
    _log(path, default_policy, 1)  # the next writer seals it and goes on
    for _ in range(3):  # every later verify, and more writes in between, still report it
        result = verify_log(path)
        assert not result.ok and result.problem[0] == 3 and result.offset == third, result
        assert "torn write at line 3, byte offset %d" % third in result.problem[1]
        out = _verify_cli(path)
        assert out.exit_code == 1 and f"byte offset {third}" in out.output and "--accept-torn 3" in out.output
        out = _verify_cli(path, "--format", "json")
        doc = json.loads(out.stdout)
        assert out.exit_code == 1 and not doc["ok"] and doc["problem"]["offset"] == third
        _log(path, default_policy, 1)
    # An operator who has investigated accepts exactly that line; a line that is not torn cannot be accepted.
    assert _verify_cli(path, "--accept-torn", "2").exit_code == 2
    out = _verify_cli(path, "--accept-torn", "3")
    assert out.exit_code == 0, out.output
    assert "line 3 (byte offset %d) is a torn write, accepted by line" % third in out.output
    assert verify_log(path).ok and _verify_cli(path).exit_code == 0
    accepted = [json.loads(x) for x in _lines(path) if b'"torn-accepted"' in x]
    assert accepted and accepted[0]["torn"][0]["line"] == 3 and accepted[0]["torn"][0]["offset"] == third
    # A second cut later is reported again: one acceptance does not cover the next.
    data = path.read_bytes()
    path.write_bytes(data[:-30])
    assert not verify_log(path).ok and _verify_cli(path).exit_code == 1


def test_an_acceptance_cannot_be_forged_or_reused(tmp_path, default_policy):
    path = tmp_path / "d.jsonl"
    _log(path, default_policy, 2)
    data = path.read_bytes()
    path.write_bytes(data[:-25])
    _log(path, default_policy, 1)
    lines = _lines(path)
    # A forger copies a valid-looking acceptance without the key: it does not verify.
    last = json.loads(lines[-1])
    fake = {**last, "seq": last["seq"] + 1, "prev": line_hash(lines[-1]), "event": "torn-accepted",
            "torn": [verify_log(path).torn[0].entry()]}
    for k in ("question", "verdict", "reason_ids", "headline", "bundle_hash"):
        fake.pop(k)
    path.write_bytes(path.read_bytes() + canonical(fake) + b"\n")
    result = verify_log(path)
    assert not result.ok and result.problem[0] == len(lines) + 1 and "MAC" in result.problem[1]


def test_the_anchored_head_catches_whole_records_cut_off_the_end(tmp_path, default_policy):
    path = tmp_path / "d.jsonl"
    _log(path, default_policy, 5)
    out = _verify_cli(path)
    head = verify_log(path).head
    assert out.exit_code == 0 and f"head {head} (seq 5)" in out.output  # printed for an external anchor
    assert _verify_cli(path, "--anchor", head).exit_code == 0
    data = path.read_bytes()
    path.write_bytes(data[:data.rstrip(b"\n").rfind(b"\n") + 1])  # the last whole record removed
    assert verify_log(path).ok  # invisible from inside the file ...
    out = _verify_cli(path, "--anchor", head)
    assert out.exit_code == 1 and "anchored head" in out.output  # ... but not to the anchor
    _log(path, default_policy, 3)  # writing on does not bring it back
    assert not verify_log(path, anchor=head).ok


def test_verify_does_not_hang_on_a_device_or_a_fifo(tmp_path):
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    for target in ("/dev/zero", str(fifo)):
        started = time.monotonic()
        out = _verify_cli(Path(target))
        assert out.exit_code == 2 and "not a regular file" in out.output and time.monotonic() - started < 5


def test_a_first_format_log_is_not_passed_off_as_verified(tmp_path):
    """A log of format 1 (an unkeyed chain anyone could rewrite) is reported, not verified."""
    path = tmp_path / "old.jsonl"
    body = {"v": 1, "seq": 1, "time": "2026-01-01T00:00:00.000000Z", "event": "decision", "engine_version": "0.1.0",
            "prev": "sha256:" + "0" * 64, "verdict": "allow"}
    body["hash"] = "sha256:" + hashlib.sha256(canonical(body)).hexdigest()
    path.write_bytes(canonical(body) + b"\n")
    create_key(tmp_path / "old.jsonl.key")
    result = verify_log(path)
    assert not result.ok and "format 1" in result.problem[1]
    assert parse_line(canonical(body), load_key_for(path))[0] is None
