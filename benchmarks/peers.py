"""Engine adapters for the harness. Each is built from the translated policy (benchmarks/translate.py) and
answers a question (source, recipient, data, purpose, day number) with a bool; `batch` where the engine
has a batch path. Peers are optional (`pip install -e '.[bench]'`): `available()` says which import.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import tempfile

from translate import (CASBIN_MODEL, REGO_MODULE, IR, Floor, casbin_policy, cedar_entities, cedar_policies,
                       rego_data)


def available(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


class FloorEngine:
    name = "plain-dict floor"
    key = "floor"

    def __init__(self, ir: IR):
        self.floor = Floor(ir)
        self.decide = self.floor.decide

    def batch(self, qs):
        d = self.floor.decide
        return [d(q) for q in qs]


class CedarEngine:
    """cedarpy with the policy set and entities parsed once (PolicySet / Entities handles)."""

    name = "cedarpy"
    key = "cedar"

    def __init__(self, ir: IR):
        import cedarpy
        self._cedarpy = cedarpy
        self.policy_text = cedar_policies(ir)
        self.entities_json = json.dumps(cedar_entities(ir))
        self.ps = cedarpy.PolicySet.from_str(self.policy_text) if hasattr(cedarpy, "PolicySet") else self.policy_text
        self.es = (cedarpy.Entities.from_json_str(self.entities_json) if hasattr(cedarpy, "Entities")
                   else self.entities_json)

    @staticmethod
    def request(q):
        s, r, d, p, on = q
        return {"principal": {"type": "Org", "id": s}, "action": {"type": "Action", "id": "disclose"},
                "resource": {"type": "Data", "id": d},
                "context": {"recipient": {"__entity": {"type": "Org", "id": r}},
                            "purpose": {"__entity": {"type": "Purpose", "id": p}}, "on": on}}

    def decide(self, q) -> bool:
        res = self._cedarpy.is_authorized(self.request(q), self.ps, self.es)
        if getattr(res, "diagnostics", None) is not None and res.diagnostics.errors:
            raise RuntimeError(f"cedar evaluation errors: {res.diagnostics.errors}")
        return res.allowed

    def batch(self, qs):
        res = self._cedarpy.is_authorized_batch([self.request(q) for q in qs], self.ps, self.es)
        return [x.allowed for x in res]


class RegoEngine:
    """regopy (OPA Rego on rego-cpp): module + data built once into a bundle; each decision sets the input
    and queries the bundle's entrypoint."""

    name = "regopy"
    key = "rego"

    def __init__(self, ir: IR):
        import regopy
        self._Input = regopy.Input
        self.rego = regopy.Interpreter()
        self.rego.add_module("lawful.rego", REGO_MODULE)
        self.rego.add_data_json(json.dumps(rego_data(ir)))
        self.bundle = self.rego.build(None, ["lawful/allow"])
        if not self.bundle.ok():
            raise RuntimeError(f"rego bundle build failed: {self.bundle}")

    def decide(self, q) -> bool:
        s, r, d, p, on = q
        self.rego.set_input(self._Input({"source": s, "recipient": r, "data": d, "purpose": p, "on": on}))
        out = self.rego.query_bundle_entrypoint(self.bundle, "lawful/allow")
        return out.results[0].expressions[0] is True

    batch = None  # Rego has no batch API; the rules read `input`, one question per evaluation


class CasbinEngine:
    """pycasbin: one model (request, policy with a `kind` column, four role hierarchies: organisations,
    data, purposes, sensitivity tags), policy lines expanded from the translated rules."""

    name = "pycasbin"
    key = "casbin"

    def __init__(self, ir: IR):
        import casbin
        rules, g, g2, g3, g4 = casbin_policy(ir)
        self.n_rules = len(rules)
        with tempfile.TemporaryDirectory() as tmp:
            model = os.path.join(tmp, "model.conf")
            with open(model, "w") as f:
                f.write(CASBIN_MODEL)
            csv = os.path.join(tmp, "policy.csv")
            with open(csv, "w") as f:
                for rule in rules:
                    f.write("p, " + ", ".join(rule) + "\n")
                for name, links in (("g", g), ("g2", g2), ("g3", g3), ("g4", g4)):
                    for a, b in links:
                        f.write(f"{name}, {a}, {b}\n")
            self.e = casbin.Enforcer(model, csv)

    def decide(self, q) -> bool:
        s, r, d, p, on = q
        return self.e.enforce(s, r, d, p, f"{on:07d}")

    def batch(self, qs):
        return self.e.batch_enforce([[s, r, d, p, f"{on:07d}"] for s, r, d, p, on in qs])


def as_question(q) -> tuple:
    """(source, recipient, data, purpose, date) -> the peers' form with a day number."""
    s, r, d, p, on = q
    return s, r, d, p, on.toordinal() if isinstance(on, dt.date) else on


PEERS = [CedarEngine, RegoEngine, CasbinEngine]
MODULE_OF = {"cedar": "cedarpy", "rego": "regopy", "casbin": "casbin"}
