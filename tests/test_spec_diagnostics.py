"""Spec cases as data: YAML files under tests/spec/diagnostics/, at least one per diagnostic code.

A case is named `<code>.yaml` or `<code>--<variant>.yaml` and holds:

- `policy` (the text of policies/main.policy) or `policies` (file name -> text, may be `{}`);
- `register`: gateways.yaml text (default: the mini register of conftest.py);
- `raw_files`: path -> text written as raw bytes (each character U+0000–U+00FF one byte, so `"\\xe9"` is the
  byte 0xe9 — for encodings that are not UTF-8); paths are relative to the bundle;
- `large_files`: path -> size in bytes (a file of `#` comment lines of that size);
- `generate`: path -> `chain-N` (N+1 data categories, each under the next: a deep hierarchy);
- `outside_files` (written beside the bundle) and `symlinks` (path in the bundle -> file beside it);
- `fifos`: paths in the bundle made FIFOs (named pipes);
- `without`: files or folders to remove from the bundle (`gateways.yaml`, `policies`);
- `bundle`: a folder name to check instead of the bundle (one that does not exist);
- `limits`: overrides of engine.bundle.read.Limits (to exercise a limit without writing megabytes);
- `check_on`: the date warnings are judged on (`on:` would be a YAML boolean);
- `cli`: instead of a bundle, the arguments of a `lawful` command expected to fail with the code;
- expectations: `code`, optional `severity` (default error), `file` (default policies/main.policy), `line`,
  and `message` (a substring of the message, or for `cli` of the output).

Every error case is also run through `lawful check`: no traceback, exit 1 (a finding) — or 2 when there was no
bundle to judge (`CANNOT_RUN`: no folder, no register, no policies/); warning cases exit 0, and 1 with
`--strict` (`--fail-level warning`).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli import app
from conftest import MINI_REGISTER, write_bundle
from engine.bundle.read import Limits, read_bundle
from engine.check.checks import check
from engine.base.diagnostics import CODES, Diagnostic
from engine.render.diagnostics import render
from engine.review.config import CANNOT_RUN

SPEC = Path(__file__).parent / "spec" / "diagnostics"
CASES = sorted(SPEC.glob("*.yaml"))

# Codes whose lint belongs to other issues, or that no input can produce on purpose.
NOT_HERE = {
    "dead-agreement", "overlapping-agreements", "unusable-exception", "isolated-organisation",
    "agreement-expiring", "no-review-date",
    "internal-error",  # tested by forcing a failure in tests/test_cli_bad_input.py
    "graphviz-missing", "graphviz-failed",  # tested in tests/test_graph_render_errors.py
    "audit-log", "bad-log",  # the decision log and transfer logs: tests/test_audit_log.py, tests/test_audit.py
    "audit-log-broken", "missing-extra", "bad-usage",  # log verify, serve, usage: tests/test_qa_regressions.py
    "dask-unavailable",  # tests/test_dask_audit.py
    "bad-config", "bad-ignore", "unused-ignore",  # the review configuration: tests/test_review_config.py
    "confusable-name",  # a lint of `lawful check`: tests/adversarial/test_control_characters.py
    "dead-rule", "re-sign-agreement",  # lint of continuity: tests/test_continuity.py
    "implied-power", "unbound-provenance", "unusable-onward",  # lint: tests/test_issue13_surfaces.py
}


def _load(case: Path) -> dict:
    return yaml.safe_load(case.read_text(encoding="utf-8"))


def build(spec: dict, tmp: Path) -> Path:
    """Write the case's bundle under `tmp` and return the folder to check."""
    policies = spec["policies"] if "policies" in spec else {"main.policy": spec.get("policy", "")}
    root = write_bundle(tmp / "b", policies, spec.get("register", MINI_REGISTER))
    for name, text in (spec.get("raw_files") or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(text.encode("latin-1"))
    for name, size in (spec.get("large_files") or {}).items():
        line = b"# " + b"x" * 77 + b"\n"
        (root / name).write_bytes((line * (size // len(line) + 1))[:size])
    for name, recipe in (spec.get("generate") or {}).items():
        kind, n = recipe.rsplit("-", 1)
        assert kind == "chain", recipe
        n = int(n)
        text = "".join(f'data d{i} "level {i}" under d{i + 1}\n' for i in range(n)) + f'data d{n} "top"\n'
        (root / name).write_text(text, encoding="utf-8")
    for name, text in (spec.get("outside_files") or {}).items():
        (tmp / name).write_text(text, encoding="utf-8")
    for name, target in (spec.get("symlinks") or {}).items():
        os.symlink(tmp / target, root / name)
    for name in spec.get("fifos") or ():
        os.mkfifo(root / name)
    for name in spec.get("without") or ():
        path = root / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    if spec.get("bundle"):
        return tmp / spec["bundle"]
    return root


def diagnostics_of(spec: dict, root: Path) -> tuple[list[Diagnostic], dict]:
    limits = Limits(**spec.get("limits", {}))
    result = read_bundle(root, limits)
    diags = list(result.diagnostics)
    if result.bundle is not None:
        on = spec.get("check_on")
        diags += check(result.bundle, on if isinstance(on, dt.date) else None).diagnostics
    return sorted(diags, key=Diagnostic.sort_key), dict(result.sources)


def _cases(cli: bool) -> list[Path]:
    return [c for c in CASES if ("cli" in _load(c)) == cli]


@pytest.mark.parametrize("case", _cases(False), ids=[c.stem for c in _cases(False)])
def test_diagnostic_case(case: Path, tmp_path: Path):
    spec = _load(case)
    assert spec["code"] in CODES, f"{case.name}: unknown code {spec['code']}"
    assert case.stem.split("--")[0] == spec["code"], "name the file after its code"
    root = build(spec, tmp_path)
    diags, sources = diagnostics_of(spec, root)
    matching = [d for d in diags if d.code == spec["code"]]
    assert matching, f"expected {spec['code']}, got {[d.headline() for d in diags]}"
    d = matching[0]
    assert d.severity.value == spec.get("severity", "error"), d.headline()
    if "file" in spec or "line" in spec:
        assert d.span is not None, d.headline()
        assert d.span.file == spec.get("file", "policies/main.policy"), d.headline()
    if "line" in spec:
        assert d.span.line == spec["line"], d.headline()
    if "message" in spec:
        assert spec["message"] in d.message, d.message
    # Messages are one lowercase line with user input in backticks; rendering never fails.
    assert "\n" not in d.message and not d.message[:1].isupper(), d.message
    assert d.headline() in render(diags, sources)


@pytest.mark.parametrize("case", _cases(False), ids=[c.stem for c in _cases(False)])
def test_diagnostic_case_through_the_cli(case: Path, tmp_path: Path):
    spec = _load(case)
    if spec.get("limits"):
        pytest.skip("limits are lowered through the library only")
    root = build(spec, tmp_path)
    args = ["check", "--bundle", str(root)]
    if isinstance(spec.get("check_on"), dt.date):
        args += ["--on", spec["check_on"].isoformat()]
    result = CliRunner().invoke(app, args)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert f"[{spec['code']}]" in output, output
    if spec.get("severity", "error") == "error":
        assert result.exit_code == (2 if spec["code"] in CANNOT_RUN else 1), output
    else:
        assert result.exit_code == 0, output
        strict = CliRunner().invoke(app, args + ["--strict"])
        assert strict.exit_code == 1


@pytest.mark.parametrize("case", _cases(True), ids=[c.stem for c in _cases(True)])
def test_cli_diagnostic_case(case: Path, monkeypatch):
    spec = _load(case)
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)  # paths in `cli:` are relative to the repository
    result = CliRunner().invoke(app, [str(a) for a in spec["cli"]])
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in output
    assert result.exit_code == 2, output
    assert f"error[{spec['code']}]" in output, output
    if "message" in spec:
        assert spec["message"] in output, output


def test_every_code_has_a_spec_case():
    covered = {_load(c)["code"] for c in CASES}
    missing = sorted(set(CODES) - covered - NOT_HERE)
    assert not missing, f"diagnostic codes without a spec case under tests/spec/diagnostics/: {missing}"


def test_spec_cases_name_real_codes():
    for c in CASES:
        assert _load(c)["code"] in CODES, c.name
