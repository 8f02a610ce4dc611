"""Graphviz problems are diagnostics with stable codes, never tracebacks."""

from __future__ import annotations

import shutil

import pytest

from engine.render import graph


def test_missing_graphviz_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(graph.shutil, "which", lambda _name: None)
    with pytest.raises(graph.RequestError) as info:
        graph.render("digraph { a -> b }", "svg")
    assert info.value.code == "graphviz-missing"
    assert "--format dot" in (info.value.help or "")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_graphviz_failure_is_reported():
    with pytest.raises(graph.RequestError) as info:
        graph.render("digraph { this is not dot", "svg")
    assert info.value.code == "graphviz-failed"
