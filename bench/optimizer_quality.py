"""Optimization quality on the shared problems (bench/problems.py): final score and optimizer calls, ours vs
trace-opt's OptoPrime and the textgrad package, all on the same local model endpoint and step budget.

Forward calls (the format problem asks the model) go through one client and are not counted; the calls
column counts only what each optimizer asked of the model. Runs stop early at a perfect score.

    python bench/optimizer_quality.py [--steps 3] [--max-tokens 300] [--only numeric_target,unit_tests]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from problems import PROBLEMS, Problem  # noqa: E402

import backprose as bp  # noqa: E402
from backprose.llm import track_usage  # noqa: E402
from backprose.optimizers import OptoPrime, TextGrad  # noqa: E402

Runner = Callable[[Problem, Any, Callable[[str, str], str], int, int], tuple[float, int]]


def _ours(kind: str) -> Runner:
    def run(problem: Problem, llm: Any, ask: Callable[[str, str], str], steps: int, max_tokens: int):
        p = bp.param(problem.initial, name="value", description=problem.description)
        op = bp.bundle(problem.forward_doc, name="forward")(lambda v: problem.forward(v, ask))
        opt = (OptoPrime([p], llm=llm, budget=3000, max_tokens=max_tokens) if kind == "optoprime" else
               TextGrad([p], llm=llm, budget=3000, max_tokens=max_tokens))
        calls = 0
        score = 0.0
        for _ in range(steps + 1):
            out = op(p)
            score, feedback = problem.evaluate(str(out.value))
            if score >= 1.0 or _ == steps:
                break
            with track_usage() as usage:
                out.backward(feedback, propagator=opt.propagator if kind == "textgrad" else None)
                opt.step()
            opt.zero_feedback()
            calls += usage.calls + usage.cache_hits
        return score, calls
    return run


class _Counter:
    """Counts chat completions made through the openai package (how peers reach the server)."""

    def __init__(self) -> None:
        import openai.resources.chat.completions as mod

        self.calls = 0
        original = mod.Completions.create
        counter = self

        def create(self_: Any, *args: Any, **kwargs: Any) -> Any:
            counter.calls += 1
            return original(self_, *args, **kwargs)

        mod.Completions.create = create  # type: ignore[method-assign]


def _trace(counter: _Counter, base_url: str, model: str) -> Runner:
    os.environ.update(TRACE_DEFAULT_LLM_BACKEND="CustomLLM", TRACE_CUSTOMLLM_URL=base_url,
                      TRACE_CUSTOMLLM_MODEL=model, TRACE_CUSTOMLLM_API_KEY="local")

    def run(problem: Problem, llm: Any, ask: Callable[[str, str], str], steps: int, max_tokens: int):
        from opto import trace
        from opto.optimizers import OptoPrime as TraceOptoPrime

        p = trace.node(problem.initial, trainable=True, description=problem.description)
        op = trace.bundle(problem.forward_doc)(lambda value: problem.forward(value, ask))
        opt = TraceOptoPrime([p])
        opt.max_tokens = max_tokens
        start = counter.calls
        score = 0.0
        for i in range(steps + 1):
            out = op(p)
            score, feedback = problem.evaluate(str(out.data))
            if score >= 1.0 or i == steps:
                break
            opt.zero_feedback()
            opt.backward(out, feedback)
            try:
                opt.step()
            except Exception as exc:  # trace raises on replies it cannot parse
                print(f"    trace-opt step failed: {type(exc).__name__}: {str(exc)[:80]}")
        return score, counter.calls - start
    return run


def _textgrad(counter: _Counter, base_url: str, model: str) -> Runner:
    def run(problem: Problem, llm: Any, ask: Callable[[str, str], str], steps: int, max_tokens: int):
        import openai
        import textgrad as tg
        from textgrad.engine.local_model_openai_api import ChatExternalClient

        class Engine(ChatExternalClient):
            def generate(self, content: Any, system_prompt: Any = None, **kwargs: Any) -> Any:
                kwargs["max_tokens"] = max_tokens
                return super().generate(content, system_prompt=system_prompt, **kwargs)

        engine = Engine(client=openai.OpenAI(base_url=base_url, api_key="local"), model_string=model)
        tg.set_backward_engine(engine, override=True)
        var = tg.Variable(str(problem.initial), requires_grad=True, role_description=problem.description)
        forward = tg.autograd.StringBasedFunction(lambda value: problem.forward(value.value, ask),
                                                  problem.forward_doc)
        opt = tg.TGD([var], engine=engine)
        start = counter.calls
        score = 0.0
        for i in range(steps + 1):
            out = forward(inputs={"value": var})
            score, feedback = problem.evaluate(str(out.value))
            if score >= 1.0 or i == steps:
                break
            loss = tg.autograd.StringBasedFunction(lambda out, fb=feedback: fb, "Judge the output.")(
                inputs={"out": out})
            opt.zero_grad()
            loss.backward()
            try:
                opt.step()
            except Exception as exc:
                print(f"    textgrad step failed: {type(exc).__name__}: {str(exc)[:80]}")
        return score, counter.calls - start
    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=300)
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    from backprose.llm.local import Local

    llm = Local()
    base_url, model = str(llm.base_url), llm.model

    def ask(system: str, user: str) -> str:
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return llm.complete(msgs, max_tokens=30, temperature=0).text

    counter = _Counter()
    runners: dict[str, Runner] = {"ours OptoPrime": _ours("optoprime"),
                                  "trace-opt OptoPrime": _trace(counter, base_url, model),
                                  "ours TextGrad": _ours("textgrad"),
                                  "textgrad TGD": _textgrad(counter, base_url, model)}
    wanted = set(filter(None, args.only.split(",")))
    print(f"model {model} at {base_url}; {args.steps} steps at most, {args.max_tokens} reply tokens")
    for problem in PROBLEMS:
        if wanted and problem.name not in wanted:
            continue
        print(f"--- {problem.name} (initial score {problem.evaluate(problem.forward(problem.initial, ask))[0]:.2f})",
              flush=True)
        for name, run in runners.items():
            try:
                score, calls = run(problem, llm, ask, args.steps, args.max_tokens)
            except ImportError as exc:
                print(f"  {name:<22} not installed ({exc.name})", flush=True)
                continue
            except Exception as exc:
                print(f"  {name:<22} failed: {type(exc).__name__}: {str(exc)[:100]}", flush=True)
                continue
            print(f"  {name:<22} score {score:.2f}  optimizer calls {calls}", flush=True)


if __name__ == "__main__":
    main()
