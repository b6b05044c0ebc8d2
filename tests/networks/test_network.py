import json

import pytest
from ann_helpers import SPEC, player

import backprose as bp
from backprose.errors import InvalidSpec, NetworkNotBuilt
from backprose.llm import Scripted
from backprose.networks import AgentNetwork, adapt, aggregation, answer_key, majority
from backprose.nodes.message import Message
from backprose.trace.graph import topological_order


def ops(out):
    return [n.op.name for n in topological_order(out) if isinstance(n, Message)]


def test_decomposition_produces_the_expected_layers():
    llm = player(lambda m: "7")
    net = AgentNetwork.build("Solve arithmetic word problems", llm=llm, examples=["2 + 5?"])
    assert [layer["name"] for layer in net.layers] == ["solve", "answer"]
    assert [layer["aggregation"] for layer in net.layers] == ["vote", "chain"]
    assert net.agent("solve", "b").instructions.value == "Compute carefully."
    assert net.structure.value["task"] == "Solve arithmetic word problems"
    names = [n for n, _ in net.named_parameters()]
    assert names == ["structure", "solve.a.system", "solve.a.instructions", "solve.a.demos", "solve.b.system",
                     "solve.b.instructions", "solve.b.demos", "solve.aggregator", "answer.writer.system",
                     "answer.writer.instructions", "answer.writer.demos", "answer.aggregator"]
    assert "2 + 5?" in llm.prompts[0][-1]["content"]


def test_a_sloppy_design_is_normalized():
    plan = {"layers": [{"subtask": "Read the problem", "agents": ["You read.", {"role": "You also read."}]},
                       {"name": "final", "subtask": "answer", "aggregation": "median", "agents": []}]}
    net = AgentNetwork.build("t", llm=player(lambda m: "1", plan=plan))
    assert [layer["name"] for layer in net.layers] == ["read_the_problem", "final"]
    assert net.layers[0]["agents"] == ["agent1", "agent2"]
    assert net.layers[1]["aggregation"] == "vote"
    assert net.agent("read_the_problem", "agent1").system.value == "You read."


def test_an_invalid_design_retries_then_uses_the_fallback_or_raises():
    llm = player(lambda m: "1", plan={"steps": "none"})
    with pytest.raises(InvalidSpec, match="fallback"):
        AgentNetwork.build("t", llm=llm)
    assert len(llm.prompts) == 4  # two designs, each with one JSON repair round trip
    assert "previous design was invalid" in llm.prompts[-2][-1]["content"]
    net = AgentNetwork.build("t", llm=player(lambda m: "1", plan={"steps": 1}), fallback=SPEC)
    assert [layer["name"] for layer in net.layers] == ["solve", "answer"]


def test_forward_flows_layer_to_layer_as_one_graph(spec):
    def agent(messages):
        user = messages[-1]["content"]
        return "draft 12" if "Step 1 of 2" in user else f"final from [{user.count('12')}]"

    llm = player(agent)
    net = AgentNetwork(spec, llm=llm)
    out = net("What is 3 * 4?")
    assert out.value.startswith("final from")
    assert "draft 12" in llm.prompts[-1][-1]["content"]  # layer 2 saw layer 1's output
    names = ops(out)
    assert names.index("layer:solve") < names.index("input:answer") < names.index("layer:answer")
    assert names.count("call_llm") == 3 and "vote" in names
    params = bp.parameters_of(out)
    assert any(p is net.structure for p in params)
    assert any(p is net.agent("solve", "b").instructions for p in params)
    graph = bp.to_networkx(out)
    assert any("layer:answer" in str(label) for label in graph.nodes)


def test_an_empty_network_says_how_to_build_one(spec):
    net = AgentNetwork(spec, llm=Scripted(["x"]))
    net.structure._value = {"task": "", "layers": []}
    with pytest.raises(NetworkNotBuilt, match="AgentNetwork.build"):
        net("q")


# --- aggregations -----------------------------------------------------------------------------------------
def one_layer(aggregation_name, agents=3, **extra):
    return {"task": "", "layers": [{"name": "team", "subtask": "answer", "aggregation": aggregation_name,
                                    "aggregator": "You judge.",
                                    "agents": [{"id": f"x{i}", "role": f"agent {i}"} for i in range(agents)]}],
            **extra}


def by_role(answers):
    return lambda m: answers[m[0]["content"]] if m[0]["content"] in answers else "?"


def test_vote_takes_the_majority_answer_ties_to_the_first():
    answers = {"agent 0": "It is 5", "agent 1": "so 6", "agent 2": "Answer: 6.0"}
    out = AgentNetwork(one_layer("vote"), llm=player(by_role(answers)))("q")
    assert out.value == "so 6"
    assert majority(["a 1", "b 2"]) == "a 1"
    assert answer_key("Total: 1,200 apples") == "1200" and answer_key("  Yes  ") == "yes"


def test_concatenate_labels_each_reply():
    answers = {"agent 0": "one", "agent 1": "two", "agent 2": "three"}
    out = AgentNetwork(one_layer("concatenate"), llm=player(by_role(answers)))("q")
    assert out.value == "[x0] one\n\n[x1] two\n\n[x2] three"


def test_synthesis_asks_the_aggregator_with_every_reply():
    answers = {"agent 0": "one", "agent 1": "two", "agent 2": "three", "You judge.": "merged"}
    llm = player(by_role(answers))
    out = AgentNetwork(one_layer("synthesis"), llm=llm)("q")
    assert out.value == "merged"
    last = llm.prompts[-1]
    assert last[0]["content"] == "You judge." and all(w in last[-1]["content"] for w in ("one", "two", "three"))


@pytest.mark.parametrize("verdict, expected", [("BEST: 2", "two"), ("I pick [3]", "three"), ("none", "one"),
                                               ("BEST: 9", "one")])
def test_critic_returns_the_reply_it_picks(verdict, expected):
    answers = {"agent 0": "one", "agent 1": "two", "agent 2": "three", "You judge.": verdict}
    out = AgentNetwork(one_layer("critic"), llm=player(by_role(answers)))("q")
    assert out.value == expected
    assert "pick_best" in ops(out)


def test_chain_lets_each_agent_improve_the_previous_draft():
    llm = player(lambda m: f"v{m[-1]['content'].count('draft')}")
    out = AgentNetwork(one_layer("chain"), llm=llm)("q")
    assert out.value == "v1"
    assert "v0" in llm.prompts[1][-1]["content"] and "v1" not in llm.prompts[1][-1]["content"]
    assert "v1" in llm.prompts[2][-1]["content"]


def test_user_defined_aggregation_is_a_traced_op():
    longest = aggregation("longest", lambda texts: max(texts, key=len), "the longest reply")
    answers = {"agent 0": "a", "agent 1": "abc", "agent 2": "ab"}
    net = AgentNetwork(one_layer("longest"), llm=player(by_role(answers)), aggregations=[longest])
    out = net("q")
    assert out.value == "abc" and "longest" in ops(out)
    with pytest.raises(InvalidSpec, match="longest"):
        AgentNetwork(one_layer("longest"), llm=player(by_role(answers)))


# --- save, load, reuse -------------------------------------------------------------------------------------
def test_save_and_load_round_trip_keeps_structure_and_prompts(spec, tmp_path):
    net = AgentNetwork(spec, llm=player(lambda m: "1"))
    doc = net.spec()
    doc["layers"][0]["agents"].append({"id": "c", "role": "You double-check.", "prompt": "Recompute."})
    doc["layers"][1]["aggregation"] = "critic"
    net.set_spec(doc)
    net.agent("solve", "a").instructions.value = "Compute step by step."
    path = net.save(tmp_path / "net.json")
    saved = json.loads(path.read_text())
    assert saved["solve.c.instructions"] == {"type": "text", "value": "Recompute."}

    again = AgentNetwork.from_file(path, llm=player(lambda m: "1"))
    assert again.spec() == net.spec()
    assert again.state_dict() == net.state_dict()
    other = AgentNetwork(SPEC, llm=player(lambda m: "1"))  # a different structure loads and rebuilds
    other.load(path)
    assert other.spec() == net.spec()
    assert other("q").value in ("1",)


def test_a_bad_state_changes_nothing(spec):
    net = AgentNetwork(spec, llm=player(lambda m: "1"))
    state = net.state_dict()
    state["structure"]["value"]["layers"][0]["aggregation"] = "nope"
    before = net.spec()
    with pytest.raises(bp.InvalidUpdate, match="nope"):
        net.load_state_dict(state)
    assert net.spec() == before


def test_adapt_reuses_learned_layers_and_builds_new_ones(spec):
    net = AgentNetwork(spec, llm=player(lambda m: "1"))
    net.agent("solve", "a").instructions.value = "Trained prompt."
    net.agent("solve", "a").demos.value = [{"input": "1 + 1?", "reply": "2"}]
    plan = {"layers": [{"reuse": "solve"}, {"name": "units", "subtask": "convert to metres",
                                           "aggregation": "synthesis", "agents": [{"id": "u", "role": "metric"}]}]}
    doc = adapt(net.spec(), "Solve word problems about lengths", llm=player(lambda m: "1", plan=plan))
    new = AgentNetwork(doc, llm=player(lambda m: "1"))
    assert [layer["name"] for layer in new.layers] == ["solve", "units"]
    assert new.agent("solve", "a").instructions.value == "Trained prompt."
    assert new.agent("solve", "a").demos.value == [{"input": "1 + 1?", "reply": "2"}]  # worked examples travel too
    assert new.agent("units", "u").system.value == "metric"
    assert new.structure.value["task"] == "Solve word problems about lengths"
    unusable = adapt(net.spec(), "other", llm=player(lambda m: "1", plan={"layers": "?"}))
    assert [layer["name"] for layer in unusable["layers"]] == ["solve", "answer"]
