"""Shared fixtures: the default bundle, and small bundles written from text into a temporary folder."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

import engine

ROOT = Path(__file__).resolve().parent.parent

# The compiled-bundle cache (engine/cache.py) of a test run lives in a fresh folder: never the user's, and never
# inside a repository a test makes (tests that set HOME to a temporary git repository would find ~/.cache there).
os.environ["LAWFUL_CACHE_DIR"] = tempfile.mkdtemp(prefix="lawful-test-cache-")

MINI_REGISTER = """\
statutes:
  SSAA-1992:
    title: Social Security Administration Act 1992
    citation: 1992 c. 5
    url: https://www.legislation.gov.uk/ukpga/1992/5
    status: in-force
    commenced: 1992-07-01
  LSA-2000:
    title: Learning and Skills Act 2000
    citation: 2000 c. 21
    url: https://www.legislation.gov.uk/ukpga/2000/21
    status: in-force
    commenced: 2000-07-28
  ESA-2008:
    title: Education and Skills Act 2008
    citation: 2008 c. 25
    url: https://www.legislation.gov.uk/ukpga/2008/25
    status: in-force
    commenced: 2008-01-26
  OLD-1990:
    title: An old act
    status: repealed
    commenced: 1990-01-01
    repealed: 2000-01-01
  DCA-GATEWAY-2006:
    title: Proposed legal gateway for education and skills data
    status: proposed
"""


# The smallest bundle with one lawful flow (LSC -> ALI, provider data for inspection), for cache and loader tests.
LSC_ALI_POLICY = """\
organisation LSC "Learning and Skills Council"
organisation ALI "Adult Learning Inspectorate"
data provider-data "Provider data"
purpose inspection "Inspection"
gateway LSC-INSPECTION "LSC may give provider data to inspectorates" {
  statute LSA-2000 "section 1"
  allows LSC -> ALI
  data provider-data
  for inspection
}
"""


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Iterator[Path]:
    """A private, empty cache folder for this test (compiled bundles, parses), and the in-memory parses
    forgotten before and after."""
    from engine.base import cachedir
    from engine.bundle import parsecache

    folder = tmp_path / "cache"
    monkeypatch.setenv(cachedir.ENV_DIR, str(folder))
    monkeypatch.delenv(cachedir.ENV_DISABLE, raising=False)
    parsecache.forget()
    yield folder
    parsecache.forget()


def write_bundle(root: Path, policies: dict[str, str], register: str = MINI_REGISTER) -> Path:
    (root / "policies").mkdir(parents=True, exist_ok=True)
    (root / "gateways.yaml").write_text(register, encoding="utf-8")
    for name, text in policies.items():
        path = root / "policies" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def default_policy() -> engine.Policy:
    return engine.load(ROOT)


@pytest.fixture
def make_bundle(tmp_path):
    def make(policies: dict[str, str], register: str = MINI_REGISTER) -> Path:
        return write_bundle(tmp_path / "bundle", policies, register)

    return make


D2005 = dt.date(2005, 6, 23)
