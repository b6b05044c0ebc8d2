"""The DSPy peers train exactly the suite's program: the messages DSPy sends are `program.messages(...)`, what
DSPy learned comes back as the suite's Final, GEPA reflects on the guide's own feedback, and no peer reads the
test split. Every call goes to a scripted OpenAI-compatible server."""

import json
import logging
import re

import pytest

pytest.importorskip("dspy")

from backprose.data import Dataset, Example  # noqa: E402
from backprose.testing_server import FakeOpenAIServer  # noqa: E402
from bench.suite import program  # noqa: E402
from bench.suite.program import OPTIMIZER_MODEL, PROGRAM_MODEL, Final  # noqa: E402
from bench.suite.systems import SYSTEMS, Env  # noqa: E402
from bench.suite.systems import dspy_peers as peers  # noqa: E402

dspy = peers.import_dspy()

START = "Double the number."
BETTER = "Double the number and say 'The answer is N.'"  # the instruction the scripted optimizer proposes


class NoTestTask:
    """A task whose test split raises on access: fit must train on train and validation only."""

    name = "fake"
    seed = 0
    instruction = START

    def __init__(self, train=range(6), validation=range(6, 10)):
        self.train = Dataset([Example(f"Double {i}", str(2 * i), f"t{i}") for i in train])
        self.validation = Dataset([Example(f"Double {i}", str(2 * i), f"v{i}") for i in validation])

    @property
    def test(self):
        raise AssertionError("fit read task.test")

    @staticmethod
    def guide(output, example):
        right = re.search(rf"\b{example.target}\b", str(output)) is not None
        return (1.0, "Correct.") if right else (0.0, f"FEEDBACK-{example.id}: expected {example.target}")


def program_reply(body):
    """Right for even numbers, and for every number once the instruction is BETTER."""
    system = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
    n = int(body["messages"][-1]["content"].split()[-1])
    return f"The answer is {2 * n}." if system == BETTER or n % 2 == 0 else "no idea"


def optimizer_reply(body):
    """Fills every output field a DSPy optimizer asks for, in the format its adapter parses."""
    system = body["messages"][0]["content"]
    if "Your output fields are:" not in system:
        return "ok"
    listed = system.split("Your output fields are:")[1].split("All interactions")[0]
    fields = re.findall(r"^\d+\. `(\w+)`", listed, re.M)
    values = {f: BETTER if "instruction" in f else "Numbers to double." for f in fields}
    if "response_format" in body or "JSON object" in system:
        return json.dumps(values)
    return "".join(f"[[ ## {f} ## ]]\n{v}\n\n" for f, v in values.items()) + "[[ ## completed ## ]]"


def reply(body):
    return program_reply(body) if body["model"] == PROGRAM_MODEL else optimizer_reply(body)


@pytest.fixture
def server():
    with FakeOpenAIServer(models=[PROGRAM_MODEL, OPTIMIZER_MODEL], reply=reply) as fake:
        yield fake


def by_model(server, model):
    return [r for r in server.requests if r["model"] == model]


def test_the_adapter_sends_exactly_the_suite_programs_request(server):
    env = Env(base_url=server.base_url)
    program_lm, _ = peers.language_models(env, "fake")
    student = peers.suite_program()("Be brief.")
    student.predict.demos = [dspy.Example(question="Double 1", answer="2"),
                             dspy.Example(question="Double 2", answer="The answer is 4.", augmented=True)]
    with dspy.context(lm=program_lm):
        student(question="Double 3")
    final = Final("Be brief.", (("Double 1", "2"), ("Double 2", "The answer is 4.")))
    assert server.requests == [program.request(final, "Double 3", "fake")]
    assert server.requests[0]["messages"] == program.messages(final.instruction, "Double 3", final.demos)


def test_the_lms_send_the_envs_temperatures_models_and_token_limits(server):
    env = Env(base_url=server.base_url, program_temperature=0.25, optimizer_temperature=0.6)
    program_lm, optimizer_lm = peers.language_models(env, "humaneval")
    program_lm("Double 1")
    optimizer_lm("Double 1")
    sent = [(r["model"], r["temperature"], r["max_tokens"]) for r in server.requests]
    assert sent == [(PROGRAM_MODEL, 0.25, program.max_tokens("humaneval")),
                    (OPTIMIZER_MODEL, 0.6, peers.OPTIMIZER_MAX_TOKENS)]


def test_the_whole_reply_is_the_answer_and_an_empty_reply_is_an_empty_answer():
    text = "[[ ## answer ## ]]\nThe answer is 4.\nOptions: (A) 4"
    with FakeOpenAIServer(models=[PROGRAM_MODEL], reply=[text, ""]) as fake:
        program_lm, _ = peers.language_models(Env(base_url=fake.base_url), "fake")
        student = peers.suite_program()(START)
        with dspy.context(lm=program_lm):
            assert student(question="Double 2").answer == text
            assert student(question="Double 2").answer == ""


def test_a_demo_without_an_answer_is_left_out_as_dspy_leaves_it_out():
    demos = [dspy.Example(question="def f():", dspy_suite_id="HumanEval/0"), {"question": "q", "answer": "a"}]
    assert peers.turns(demos) == (("q", "a"),)


def test_a_target_that_is_no_reply_never_becomes_an_answer():
    examples = [Example("def add(a, b):", {"test": "assert add(1, 2) == 3", "entry_point": "add"}, "HumanEval/0"),
                Example("Double 2", "4", "t2")]
    humaneval, doubling = peers.as_dspy(examples)
    assert humaneval.get("answer") is None and doubling.answer == "4"
    assert "dspy_suite_id" not in humaneval.keys() and humaneval.inputs().keys() == ["question"]


def test_the_metrics_pass_the_guides_score_and_feedback():
    task = NoTestTask()
    judge = peers.Judge(task)
    gold, = peers.as_dspy([task.train[1]])
    wrong, right = dspy.Prediction(answer="no idea"), dspy.Prediction(answer="The answer is 2.")
    verdict = judge.feedback(gold, wrong, None, "predict", None)
    assert (verdict.score, verdict.feedback) == (0.0, "FEEDBACK-t1: expected 2")
    assert judge.feedback(gold, right).score == 1.0
    assert judge.score(gold, right) == 1.0 and judge.score(gold, wrong) == 0.0
    assert judge.score(gold, right, trace=[]) is True and judge.score(gold, wrong, trace=[]) is False


def test_bootstrap_fewshot_keeps_right_runs_as_demos_and_logs_its_budget(server, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="backprose")
    env = Env(base_url=server.base_url, program_calls=3, work_dir=tmp_path)
    final = SYSTEMS["bootstrap_fewshot"]().fit(NoTestTask(), env, seed=0)
    assert final.instruction == START
    runs = [d for d in final.demos if d[1].startswith("The answer is")]
    assert runs == [("Double 0", "The answer is 0."), ("Double 2", "The answer is 4."),
                    ("Double 4", "The answer is 8.")]  # the program's own right replies, in train order
    assert all(reply != "no idea" for _, reply in final.demos)
    assert {d for d in final.demos if d not in runs} <= {(f"Double {i}", str(2 * i)) for i in range(6)}  # labels
    assert all(r["model"] == PROGRAM_MODEL and r["temperature"] == 0.0 for r in server.requests)
    record = json.loads((tmp_path / "dspy_budget.json").read_text())
    assert record["used"] == {"program_calls": len(server.requests), "optimizer_calls": 0}
    assert Final.from_dict(record["final"]) == final
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "bootstrap_fewshot: DSPy's light budget of 6 program calls is above the suite's 3" in warnings[0]
    assert f"bootstrap_fewshot exceeded the suite's program-call budget: {len(server.requests)} calls" in warnings[1]


def test_a_light_budget_below_the_suites_says_so(server, caplog):
    caplog.set_level(logging.INFO, logger="backprose")
    SYSTEMS["bootstrap_fewshot"]().fit(NoTestTask(), Env(base_url=server.base_url, program_calls=50), seed=0)
    messages = [r.getMessage() for r in caplog.records]
    assert "bootstrap_fewshot: DSPy's light budget of 6 program calls is below the suite's 50" in messages
    assert "bootstrap_fewshot: DSPy's light budget of 0 optimizer calls is below the suite's 12" in messages
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_gepa_runs_at_its_light_budget_or_at_the_suites_where_that_is_larger():
    light = peers.GEPAPeer().budget(20, 20).program
    assert light == 460  # DSPy's auto="light" for one predictor and 20 validation examples
    assert peers.GEPAPeer.spend(light, Env(base_url="x", program_calls=120)) == {"auto": "light"}
    assert peers.GEPAPeer.spend(light, Env(base_url="x", program_calls=600)) == {"max_metric_calls": 600}


def test_gepa_reflects_on_the_guides_feedback_and_keeps_the_better_instruction(server, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="backprose")
    task = NoTestTask(train=range(6), validation=range(6, 8))
    final = SYSTEMS["gepa"]().fit(task, Env(base_url=server.base_url, work_dir=tmp_path), seed=0)
    assert final == Final(BETTER)
    reflections = [r["messages"][-1]["content"] for r in by_model(server, OPTIMIZER_MODEL)]
    assert reflections and all("FEEDBACK-t" in text for text in reflections)
    assert {r["temperature"] for r in by_model(server, OPTIMIZER_MODEL)} == {0.7}
    assert {r["temperature"] for r in by_model(server, PROGRAM_MODEL)} == {0.0}
    light = peers.GEPAPeer().budget(6, 2).program
    record = json.loads((tmp_path / "dspy_budget.json").read_text())
    used = record["used"]["program_calls"]
    assert record["used"] == {"program_calls": len(by_model(server, PROGRAM_MODEL)),
                              "optimizer_calls": len(reflections)}
    assert "gepa: DSPy sets no bound on optimizer calls; the suite's budget is 12" in caplog.text
    assert f"gepa: {used} metric calls" in caplog.text  # GEPA's own count: one program call per metric call
    assert light <= used <= light + 3 + 3 + 2  # it stops within one iteration (two minibatches, one full eval)


def test_gepa_at_the_suites_budget_spends_exactly_it():
    light = peers.GEPAPeer().budget(20, 20).program
    assert peers.GEPAAtSuiteBudget.spend(light, Env(base_url="x", program_calls=60)) == {"max_metric_calls": 60}
    assert peers.GEPAAtSuiteBudget.spend(light, Env(base_url="x", program_calls=600)) == {"max_metric_calls": 600}
    assert SYSTEMS["gepa_suite_budget"]().name == "gepa_suite_budget"


def test_only_the_peer_that_runs_at_its_light_budget_says_so(caplog):
    budget, env = peers.Budget(460, None, "metric calls"), Env(base_url="x", program_calls=60)
    peers.GEPAAtSuiteBudget()._log_budget(budget, 20, 20, env)
    peers.GEPAAtSuiteBudget.spend(budget.program, env)  # as `compile` does, after the budget lines
    below = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "460" in r.getMessage()]
    assert below == ["gepa_suite_budget: DSPy's light budget of 460 program calls is above the suite's 60; this row "
                     "runs at the suite's budget instead"]  # said once: what it runs at, beside the light budget
    assert "it runs at DSPy's documented budget" not in caplog.text
    peers.GEPAPeer()._log_budget(budget, 20, 20, env)
    assert "gepa: DSPy's light budget of 460 program calls is above the suite's 60; it runs at DSPy's " \
           "documented budget" in caplog.text


def test_miprov2_proposes_with_the_optimizer_model_and_keeps_what_validates(server, tmp_path):
    final = SYSTEMS["miprov2"]().fit(NoTestTask(), Env(base_url=server.base_url, work_dir=tmp_path), seed=0)
    assert final.instruction == BETTER
    assert by_model(server, OPTIMIZER_MODEL)
    assert {(r["temperature"], r["max_tokens"]) for r in by_model(server, PROGRAM_MODEL)} == {(0.0, 96)}
    budget = peers.MIPROv2Peer().budget(6, 4)
    record = json.loads((tmp_path / "dspy_budget.json").read_text())
    assert record["used"]["program_calls"] == len(by_model(server, PROGRAM_MODEL)) <= budget.program
    assert record["used"]["optimizer_calls"] == len(by_model(server, OPTIMIZER_MODEL))


def test_the_three_peers_are_registered():
    assert {name: SYSTEMS[name]().name for name in ("gepa", "miprov2", "bootstrap_fewshot")} == {
        "gepa": "gepa", "miprov2": "miprov2", "bootstrap_fewshot": "bootstrap_fewshot"}


@pytest.mark.live
def test_dspy_gets_the_same_reply_as_the_suites_scoring_from_the_real_model(local_llm):
    """Two short calls: the program as DSPy runs it and as the suite scores it are one request to the server."""
    import openai

    env = Env(base_url=local_llm.base_url, api_key="not-needed", program_model=local_llm.model)
    final = Final("Answer with the number only.", (("Double 2", "4"),))
    program_lm, _ = peers.language_models(env, "fake")
    student = peers.suite_program()(final.instruction)
    student.predict.demos = [dspy.Example(question=q, answer=a) for q, a in final.demos]
    with dspy.context(lm=program_lm):
        through_dspy = student(question="Double 21").answer
    body = {**program.request(final, "Double 21", "fake"), "model": env.program_model}
    reply = openai.OpenAI(base_url=env.base_url, api_key=env.api_key).chat.completions.create(**body)
    assert through_dspy == reply.choices[0].message.content
    assert through_dspy.strip()
