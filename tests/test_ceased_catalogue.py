"""A body that simply `ceases on` a date (no successor, no transfer) in the catalogue: `lawful show`, `list` and
the service's names used to fail with an internal error (KeyError on the empty successor) - found when the
default bundle first declared one (Becta, issue 14)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cli import app

POLICY = ('organisation Becta "British Educational Communications and Technology Agency" ceases on 2011-04-01\n'
          'organisation DfES "Department for Education and Skills"\n'
          'data provider-data "Provider data"\npurpose planning "Planning"\n'
          'gateway G "g" {\n  statute LSA-2000 "s.1"\n  allows DfES -> Becta\n  data provider-data\n  for planning\n}\n')


def test_show_and_list_a_body_that_ceases(make_bundle):
    root = make_bundle({"main.policy": POLICY})
    r = CliRunner().invoke(app, ["show", "Becta", "--bundle", str(root)])
    assert r.exit_code == 0, r.output
    assert "replaced by" not in r.output and "2011-03-31" in r.output, r.output
    r = CliRunner().invoke(app, ["show", "Becta", "--format", "json", "--bundle", str(root)])
    assert r.exit_code == 0, r.output
    (entry,) = json.loads(r.stdout)["found"]
    assert entry["end"] == "2011-03-31" and "replaced_by" not in entry["details"]
    r = CliRunner().invoke(app, ["list", "orgs", "--on", "2012-01-01", "--bundle", str(root)])
    assert r.exit_code == 0 and "Becta" not in r.output, r.output
