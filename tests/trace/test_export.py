"""Graph export: networkx attributes and pictures that never need graphviz."""

import shutil

import pytest

import backprose as bp


def _graph():
    system = bp.param("Be brief.", name="system", description="system prompt")

    @bp.bundle()
    def ask(prompt, question):
        """Send the prompt and question to the model."""
        return f"{prompt} {question}"

    return ask(system, "why?"), system


def test_networkx_attributes():
    out, _ = _graph()
    g = bp.to_networkx(out)
    assert set(g.nodes) == {"system", "question", "ask"}
    assert g.nodes["system"]["kind"] == "parameter" and g.nodes["system"]["trainable"] is True
    assert g.nodes["system"]["description"] == "system prompt"
    assert g.nodes["ask"]["op_doc"] == "Send the prompt and question to the model."
    assert g.nodes["ask"]["value"] == repr("Be brief. why?")
    assert list(g.predecessors("ask")) == ["system", "question"]


def test_repeated_names_get_deterministic_suffixes():
    a = bp.param(1, name="x")
    out = (a + 1) + (a + 2)
    assert list(bp.to_networkx(out).nodes) == ["x", "add:0", "add:1", "add:2"]


@pytest.mark.parametrize("suffix,marker", [(".svg", "<svg"), (".html", "<svg"), (".mmd", "flowchart"),
                                           (".dot", "digraph")])
def test_render_formats(tmp_path, suffix, marker, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)  # as on a machine without graphviz
    out, _ = _graph()
    path = bp.render(out, tmp_path / f"graph{suffix}")
    text = path.read_text()
    assert marker in text and "system" in text


def test_render_rejects_unknown_suffix(tmp_path):
    out, _ = _graph()
    with pytest.raises(ValueError, match=r"\.svg, \.html"):
        bp.render(out, tmp_path / "graph.png")
