"""Graphviz problems are diagnostics with stable codes, never tracebacks."""

from __future__ import annotations

import shutil

import pytest

from engine.render import graph


def test_missing_graphviz_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(graph.shutil, "which", lambda *_a, **_k: None)
    with pytest.raises(graph.RequestError) as info:
        graph.render("digraph { a -> b }", "svg")
    assert info.value.code == "graphviz-missing"
    assert "--format dot" in (info.value.help or "")


@pytest.mark.skipif(graph.renderer() is None, reason="neither Graphviz `dot` nor graphviz-pure is installed")
def test_graphviz_failure_is_reported():
    with pytest.raises(graph.RequestError) as info:
        graph.render("digraph { this is not dot", "svg")
    assert info.value.code == "graphviz-failed"


def test_svg_and_png_without_the_dot_program(monkeypatch):
    """Issue 15 item 5: with no Graphviz on the machine, graphviz-pure (a dependency) draws the picture."""
    real = shutil.which
    monkeypatch.setattr(graph.shutil, "which", lambda name, *a, **k: None if name == "dot" else real(name, *a, **k))
    exe = graph.renderer()
    assert exe is not None and "graphviz-pure" in exe, "graphviz-pure is a dependency of lawful"
    svg = graph.render('digraph { "a" -> "b" [label="x & y"] }', "svg")
    import xml.etree.ElementTree as ET

    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "x &amp; y" in svg.decode("utf-8")
    assert graph.render("digraph { a -> b }", "png")[:8] == b"\x89PNG\r\n\x1a\n"
