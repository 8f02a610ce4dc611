"""Spec cases as data: one YAML file per diagnostic code under tests/spec/diagnostics/.

Each file: `policy` (text of policies/main.policy; or `policies`, a mapping of file name -> text), optional
`register` (gateways.yaml text; the default mini register otherwise), `code`, `line`, optional `file`
(default policies/main.policy), optional `severity` (default error) and `message` (a substring).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import engine
from engine.diagnostics import CODES

from conftest import MINI_REGISTER, write_bundle

SPEC = Path(__file__).parent / "spec" / "diagnostics"
CASES = sorted(SPEC.glob("*.yaml"))


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_diagnostic_case(case: Path, tmp_path: Path):
    spec = yaml.safe_load(case.read_text(encoding="utf-8"))
    policies = spec.get("policies") or {"main.policy": spec.get("policy", "")}
    root = write_bundle(tmp_path / "b", policies, spec.get("register", MINI_REGISTER))
    for name, raw in (spec.get("raw_files") or {}).items():
        (root / name).write_bytes(raw.encode("latin-1"))
    diags, _sources = engine.check_bundle(root, on=None)
    want_file = spec.get("file", "policies/main.policy")
    matching = [d for d in diags if d.code == spec["code"]]
    assert matching, f"expected {spec['code']}, got {[d.headline() for d in diags]}"
    d = matching[0]
    assert d.severity.value == spec.get("severity", "error")
    if "line" in spec:
        assert d.span is not None and d.span.file == want_file and d.span.line == spec["line"], d.headline()
    if "message" in spec:
        assert spec["message"] in d.message, d.message
    assert d.code in CODES
