"""docs/reply-formats.md covers every optimizer, states the formats the prompts ask for, and its examples'
scripted replies are accepted and change a parameter (the blocks themselves run in test_doc_blocks)."""

import inspect
import re
from pathlib import Path

import pytest

import backprose.optimizers as optimizers
from backprose.networks import NetworkOptimizer
from backprose.optimizers.base import Optimizer
from backprose.optimizers.per_parameter import PerParameterOptimizer
from backprose.optimizers.prompts import BUILTIN
from backprose.search.meta import MetaAgent

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "reply-formats.md"

# what the prompt tells the model, and the page must show the same text
STATED = {
    "optoprime_system.j2": '{"reasoning": "<short explanation>", "suggestion": {"<variable name>": <new value>}}',
    "opro_system.j2": '{"reasoning": "<short explanation>", "suggestion": {"<variable name>": <new value>}}',
    "textgrad_update_system.j2": '{"reasoning": "<short explanation>", "value": <the new value>}',
}


def sections() -> dict[str, str]:
    """Each `## heading` of the page with the text under it."""
    parts = re.split(r"^## (.*)$", PAGE.read_text(), flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def optimizer_classes() -> list[type]:
    found = [obj for obj in vars(optimizers).values()
             if inspect.isclass(obj) and issubclass(obj, Optimizer) and obj is not Optimizer]
    return [*found, PerParameterOptimizer, NetworkOptimizer, MetaAgent]


@pytest.mark.parametrize("cls", optimizer_classes(), ids=lambda c: c.__name__)
def test_every_optimizer_has_a_section_with_an_example_that_changes_something(cls):
    titles = {"PerParameterOptimizer": "per-parameter", "MetaAgent": "Meta Agent Search"}
    name = titles.get(cls.__name__, cls.__name__)
    found = [body for title, body in sections().items() if name.lower() in title.lower()]
    assert found, f"docs/reply-formats.md has no section for {cls.__name__}"
    (body,) = found
    code = "\n".join(m[1] for m in re.findall(r"^(`{3,})python\n(.*?)^\1$", body, re.DOTALL | re.MULTILINE))
    assert "Scripted(" in code, f"the {name} section scripts its model"
    assert cls.__name__ in code, f"the {name} section's example uses {cls.__name__}"
    assert re.search(r"^assert .*(\.value ==|design\[)", code, re.MULTILINE), \
        f"the {name} section's example checks that the reply changed something"


@pytest.mark.parametrize("template", sorted(STATED))
def test_the_page_states_the_format_the_prompt_asks_for(template):
    stated = STATED[template]
    assert stated in (BUILTIN / template).read_text(), f"{template} no longer asks for {stated}"
    assert stated in PAGE.read_text()


def test_reflect_and_network_formats_match_their_prompts():
    reflect = (BUILTIN / "reflect_user.j2").read_text()
    assert '"{{ why }}"' in reflect and '"{{ name }}"' in reflect  # diagnosis key, then the parameter's name
    assert '{"diagnosis": "<what the program did that the grader complained about>", "<parameter name>": ' \
           '<new value>}' in PAGE.read_text()
    networks = ROOT / "backprose" / "networks" / "templates"
    assert '{"critique":' in (networks / "global_gradient.j2").read_text()
    assert '{"layer":' in (networks / "local_gradient.j2").read_text()
    for text in ('{"critique": "<what to change>", "edits": [', '{"layer": "<advice for the layer>", "agents": {'):
        assert text in PAGE.read_text()
    assert '{"layers": [{"name": ' in (networks / "decompose_user.j2").read_text()
    assert '{"reuse": "layer_name"}' in (networks / "adapt_user.j2").read_text()
    assert '{"layers": [{"name": ' in PAGE.read_text() and '{"reuse": "<learned layer name>"}' in PAGE.read_text()


def test_optimizers_page_links_to_the_formats():
    assert "(reply-formats.md)" in (ROOT / "docs" / "optimizers.md").read_text()
