"""Issue 12's changes of bodies in the catalogue and the timeline, found when the default bundle first used them
(issue 14): a body that simply `ceases on` a date made `lawful show`, `list` and the service's names fail with
an internal error (KeyError on the empty successor); the timeline listed successions only, and failed deciding
the same-body row (data `*`) of an agency that begins inside its department."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cli import app

POLICY = ('organisation Becta "British Educational Communications and Technology Agency" ceases on 2011-04-01\n'
          'organisation DfES "Department for Education and Skills"\n'
          'data provider-data "Provider data"\npurpose planning "Planning"\n'
          'gateway G "g" {\n  statute LSA-2000 "s.1"\n  allows DfES -> Becta\n  data provider-data\n'
          '  for planning\n}\n')


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


def test_timeline_when_an_agency_begins_inside_its_department(make_bundle):
    """A part that begins on a date makes a same-body row (data `*`) begin: the timeline used to fail deciding
    the `*` data (an internal error) - found when the default bundle dated Jobcentre Plus (issue 14)."""
    from engine import load
    from engine.eval import catalogue

    root = make_bundle({"main.policy": (
        'organisation DWP "Department for Work and Pensions"\n'
        'organisation JCP "Jobcentre Plus" part-of DWP exists from 2002-04-01\n'
        'data claimant-record "Claimant records" personal\npurpose planning "Planning"\n')})
    t = catalogue.timeline(load(root))
    began = [(d.on.isoformat(), f.source, f.recipient, f.data) for d in t.days for f in d.began]
    assert ("2002-04-01", "DWP", "JCP", "*") in began and ("2002-04-01", "JCP", "DWP", "*") in began


def test_timeline_names_renames_transfers_and_bodies_that_cease(make_bundle):
    """The timeline lists issue 12's changes of bodies, not only successions: a rename, a transfer of functions
    (saying whether the transferor goes on), a body that begins and one that ceases."""
    from engine import load
    from engine.eval import catalogue
    from engine.render.catalogue import event_text

    root = make_bundle({"main.policy": (
        'organisation TTA "Teacher Training Agency"\n'
        'organisation TDA "Training and Development Agency" renames TTA on 2005-09-01\n'
        'organisation ALI "Adult Learning Inspectorate"\n'
        'organisation OFSTED "Ofsted" exists from 2007-04-01\n'
        'organisation QCA "QCA"\norganisation Ofqual "Ofqual" exists from 2010-04-01\n'
        'organisation Becta "Becta" ceases on 2011-04-01\n'
        'transfer ALI to OFSTED on 2007-04-01\ntransfer QCA to Ofqual on 2010-04-01 continues\n')})
    words = {e.on.isoformat(): [] for e in catalogue.events(load(root))}
    for e in catalogue.events(load(root)):
        words[e.on.isoformat()].append(event_text(e))
    assert "TTA (Teacher Training Agency) was renamed TDA (Training and Development Agency): the same body" \
        in words["2005-09-01"]
    assert "ALI's functions passed to OFSTED and it ceased" in words["2007-04-01"]
    assert "OFSTED (Ofsted) began" in words["2007-04-01"]
    assert "QCA's functions passed to Ofqual; it goes on existing" in words["2010-04-01"]
    assert words["2011-04-01"] == ["Becta (Becta) ceased"]
