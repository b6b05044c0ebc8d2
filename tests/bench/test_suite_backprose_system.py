"""The `backprose` system: its module sends exactly the suite's program request, and it trains within both
call budgets through the proxy."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest
from suite_fixtures import multiple_choice_task

import backprose as bp
from backprose.errors import CallBudgetExhausted
from backprose.testing_server import FakeOpenAIServer, completion_payload
from bench.suite import program
from bench.suite.proxy import Proxy, Route
from bench.suite.systems.backprose_system import Backprose, CappedOpenAI, Program
from bench.suite.systems.base import Env
from bench.suite.tasks import load_task


class RawServer:
    """Records each request body exactly as the bytes arrived."""

    def __init__(self):
        self.bodies = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                outer.bodies.append(raw)
                payload = json.dumps(completion_payload(json.loads(raw), "(A)")).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@pytest.mark.parametrize("demos", [(), (("Is 1 odd?", "(A) yes"), ("Is 2 odd?", "(B) no"))])
def test_the_module_sends_the_programs_request_byte_for_byte(demos):
    raw = RawServer()
    try:
        final = program.Final("Answer with the letter of the option.", demos)
        client = openai.OpenAI(base_url=raw.url, api_key="k")
        client.chat.completions.create(**program.request(final, "Which? (A) x (B) y", "navigate"))
        llm = bp.llm.OpenAI(program.PROGRAM_MODEL, raw.url, "k")
        module = Program(final.instruction, llm, program.max_tokens("navigate"), demos)
        module("Which? (A) x (B) y")
        assert module.final() == final
        assert raw.bodies[1] == raw.bodies[0]
        llm.close()
    finally:
        raw.server.shutdown()


def test_a_capped_client_refuses_the_request_past_its_share():
    with FakeOpenAIServer(models=["m"]) as server:
        llm = CappedOpenAI("m", server.base_url, "k", calls=2)
        llm.complete("a")
        llm.complete("b")
        with pytest.raises(CallBudgetExhausted):
            llm.complete("c")
        llm.close()
        assert server.calls == 2


def optimizer_reply(body):
    """The optimizer proposes a new instruction; the program answers (A) to everything."""
    if body["model"] == program.OPTIMIZER_MODEL:
        n = sum(len(m["content"]) for m in body["messages"])  # a different proposal for a different prompt
        return json.dumps({"diagnosis": "too vague", "instruction": f"Reply with one letter only ({n})."})
    return "(A)"


def test_fit_trains_through_the_proxy_within_both_budgets_and_never_reads_test(tmp_path):
    task = load_task("navigate", 0, test=5, path=multiple_choice_task(tmp_path / "task.json"))
    with FakeOpenAIServer(models=[program.PROGRAM_MODEL, program.OPTIMIZER_MODEL], reply=optimizer_reply) as up, \
            Proxy([Route(program.PROGRAM_MODEL, up.base_url, "program", 0.0),
                   Route(program.OPTIMIZER_MODEL, up.base_url, "optimizer", 0.7)]) as proxy:
        env = Env(base_url=proxy.url("bp"), program_calls=40, optimizer_calls=3, work_dir=tmp_path / "work")
        system = Backprose(optimizer=lambda module, llm: bp.optimizers.Reflect([module.instruction], llm=llm))
        final = system.fit(task.__class__(**{**task.__dict__, "test": ()}), env, seed=0)
        counts = proxy.counts("bp")
    assert isinstance(final, program.Final)
    assert 0 < counts["program"].calls <= 40 and 0 < counts["optimizer"].calls <= 3
    test_inputs = {ex.input for ex in task.test}
    assert not any(r["messages"][-1]["content"] in test_inputs for r in up.requests)
    assert all(r["temperature"] == 0.0 for r in up.requests if r["model"] == program.PROGRAM_MODEL)
    assert (tmp_path / "work/train/events.jsonl").exists()


def test_with_no_optimizer_fit_runs_bp_trains_default_recipe(tmp_path):
    task = load_task("navigate", 0, test=5, path=multiple_choice_task(tmp_path / "task.json"))
    with FakeOpenAIServer(models=[program.PROGRAM_MODEL, program.OPTIMIZER_MODEL], reply=optimizer_reply) as up, \
            Proxy([Route(program.PROGRAM_MODEL, up.base_url, "program", 0.0),
                   Route(program.OPTIMIZER_MODEL, up.base_url, "optimizer", 0.7)]) as proxy:
        env = Env(base_url=proxy.url("bp"), program_calls=40, optimizer_calls=3, work_dir=tmp_path / "work")
        Backprose().fit(task.__class__(**{**task.__dict__, "test": ()}), env, seed=0)
        counts = proxy.counts("bp")
    events = [json.loads(line) for line in (tmp_path / "work/train/events.jsonl").read_text().splitlines()]
    start = next(e for e in events if e.get("event", e.get("type")) == "start" or "strategy" in e)
    assert start["strategy"] == "pareto"  # the recipe's pool, not the trainer's plain default
    assert set(start["parameters"]) == {"instruction", "demos"}
    assert 0 < counts["program"].calls <= 40 and counts["optimizer"].calls <= 3
