"""One command for the cross-framework table: backprose vs trace-opt, textgrad and dspy on the shared
problems (bench/problems.py), all on one OpenAI-compatible endpoint (the embedded local model by default).

    python bench/compare.py                                   # every problem, every installed framework
    python bench/compare.py --only numeric_target --steps 2 --out bench/compare.md
    python bench/compare.py --base-url http://127.0.0.1:8080/v1 --model my-model

It installs nothing: a framework that is not importable gets a row saying so (`pip install trace-opt
textgrad dspy` to include them). Every request of a run, forward and optimizer alike, goes through a small
counting proxy on 127.0.0.1, so calls and tokens are measured the same way for every framework (tokens are
the server's own `usage` figures). Wall time is the whole run. Runs stop early at a perfect score.

`--repeats N` runs each cell N times and shows the mean final score with its range, and mean calls,
tokens and seconds: a local server at temperature 0 is not bit-for-bit repeatable (its prompt cache
changes the floating-point arithmetic), so one run can be one lucky suggestion.

`--steps` is a budget of optimizer requests: each framework gets that many steps, and backprose's retry
of a reply that does not parse uses up one of them (trace-opt loses the step instead; textgrad's gradient
requests are part of its step).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))

from problems import PROBLEMS, Problem  # noqa: E402

from bench.suite.proxy import ANY_MODEL, Proxy, Route  # noqa: E402

Ask = Callable[[str, str], str]
Scores = tuple[float, float]  # (score before optimizing, score after)
API_KEY = os.environ.get("OPENAI_API_KEY") or "local"  # a local server accepts any key


def make_ask(base_url: str, model: str) -> Ask:
    """The problems' forward model call: same client for every framework, temperature 0, short replies."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key=API_KEY)

    def ask(system: str, user: str) -> str:
        reply = client.chat.completions.create(model=model, max_tokens=30, temperature=0, messages=[
            {"role": "system", "content": system}, {"role": "user", "content": user}])
        return reply.choices[0].message.content or ""
    return ask


# --- one runner per framework: (problem, base_url, model, ask, steps, max_tokens) -> (initial, final) -----

def run_backprose(problem: Problem, base_url: str, model: str, ask: Ask, steps: int, max_tokens: int,
                  optimizer: str = "OptoPrime") -> Scores:
    import backprose as bp

    llm = bp.llm.OpenAI(model=model, base_url=base_url, api_key=API_KEY, max_concurrency=1, timeout=1800)
    p = bp.param(problem.initial, name="value", description=problem.description)
    op = bp.bundle(problem.forward_doc, name="forward")(lambda v: problem.forward(v, ask))
    opt = getattr(bp.optimizers, optimizer)([p], llm=llm, budget=3000, max_tokens=max_tokens)
    spent = 0  # optimizer requests: a retry of a bad reply uses up one of the `steps`
    while True:
        out = op(p)
        score, feedback = problem.evaluate(str(out.value))
        if not spent:
            first = score
        if score >= 1.0 or spent >= steps:
            return first, score
        out.backward(feedback)
        opt.retries = min(1, steps - spent - 1)
        usage = opt.step().usage
        spent += max(1, usage.get("calls", 0) + usage.get("cache_hits", 0))
        opt.zero_feedback()


def run_backprose_reflect(problem: Problem, base_url: str, model: str, ask: Ask, steps: int,
                          max_tokens: int) -> Scores:
    return run_backprose(problem, base_url, model, ask, steps, max_tokens, optimizer="Reflect")


def run_trace(problem: Problem, base_url: str, model: str, ask: Ask, steps: int, max_tokens: int) -> Scores:
    os.environ.update(TRACE_DEFAULT_LLM_BACKEND="CustomLLM", TRACE_CUSTOMLLM_URL=base_url,
                      TRACE_CUSTOMLLM_MODEL=model, TRACE_CUSTOMLLM_API_KEY=API_KEY)
    from opto import trace
    from opto.optimizers import OptoPrime

    p = trace.node(problem.initial, trainable=True, description=problem.description)
    def forward(value: Any) -> str:  # trace-opt reads the source of a bundled function: it must be a def
        return problem.forward(value, ask)

    op = trace.bundle(f"[forward] {problem.forward_doc}")(forward)  # trace-opt wants '[name] doc'
    opt = OptoPrime([p])
    opt.max_tokens = max_tokens
    for i in range(steps + 1):
        out = op(p)
        score, feedback = problem.evaluate(str(out.data))
        if i == 0:
            first = score
        if score >= 1.0 or i == steps:
            return first, score
        opt.zero_feedback()
        opt.backward(out, feedback)
        try:
            opt.step()
        except Exception as exc:  # trace-opt raises on replies it cannot parse; the step is lost
            print(f"    trace-opt step failed: {type(exc).__name__}: {str(exc)[:80]}", flush=True)
    return first, score


def run_textgrad(problem: Problem, base_url: str, model: str, ask: Ask, steps: int, max_tokens: int) -> Scores:
    import openai
    import textgrad as tg
    from textgrad.engine.local_model_openai_api import ChatExternalClient

    class Engine(ChatExternalClient):
        def generate(self, content: Any, system_prompt: Any = None, **kwargs: Any) -> Any:
            kwargs["max_tokens"] = max_tokens
            return super().generate(content, system_prompt=system_prompt, **kwargs)

        def _check_cache(self, prompt: str) -> Any:  # textgrad caches every answer on disk: a rerun
            return None                                # would make no request, so every run asks afresh

    engine = Engine(client=openai.OpenAI(base_url=base_url, api_key=API_KEY), model_string=model)
    tg.set_backward_engine(engine, override=True)
    var = tg.Variable(str(problem.initial), requires_grad=True, role_description=problem.description)
    forward = tg.autograd.StringBasedFunction(lambda value: problem.forward(value.value, ask), problem.forward_doc)
    opt = tg.TGD([var], engine=engine)
    for i in range(steps + 1):
        out = forward(inputs={"value": var})
        score, feedback = problem.evaluate(str(out.value))
        if i == 0:
            first = score
        if score >= 1.0 or i == steps:
            return first, score
        loss = tg.autograd.StringBasedFunction(lambda out, fb=feedback: fb, "Judge the output.")(inputs={"out": out})
        opt.zero_grad()
        loss.backward()
        try:
            opt.step()
        except Exception as exc:
            print(f"    textgrad step failed: {type(exc).__name__}: {str(exc)[:80]}", flush=True)
    return first, score


class NotApplicable(Exception):
    """The framework has no way to optimize this kind of value; the table says why."""


def run_dspy(problem: Problem, base_url: str, model: str, ask: Ask, steps: int, max_tokens: int) -> Scores:
    import dspy

    if problem.name != "format_compliance":
        raise NotApplicable("DSPy optimizes the instructions of its predictors, not an arbitrary "
                            f"{type(problem.initial).__name__} value")
    lm = dspy.LM(f"openai/{model}", api_base=base_url, api_key=API_KEY, temperature=0, max_tokens=max_tokens,
                 cache=False)
    dspy.configure(lm=lm)

    class Answer(dspy.Signature):
        question: str = dspy.InputField()
        answer: str = dspy.OutputField()

    program = dspy.Predict(Answer.with_instructions(str(problem.initial)))
    example = dspy.Example(question=problem.forward_doc.split("'")[1]).with_inputs("question")

    def metric(gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None) -> Any:
        score, feedback = problem.evaluate(str(pred.answer).strip())
        return dspy.Prediction(score=score, feedback=feedback)

    # GEPA is DSPy's optimizer that reads textual feedback; one metric call per step keeps budgets comparable.
    gepa = dspy.GEPA(metric=metric, max_metric_calls=steps + 1, reflection_lm=lm, reflection_minibatch_size=1,
                     use_merge=False, track_stats=False)
    first = problem.evaluate(str(program(question=example.question).answer).strip())[0]
    optimized = gepa.compile(program, trainset=[example], valset=[example])
    return first, problem.evaluate(str(optimized(question=example.question).answer).strip())[0]


RUNNERS: dict[str, tuple[str, Callable[..., Scores]]] = {
    "backprose (OptoPrime)": ("backprose", run_backprose),
    "backprose (Reflect)": ("backprose", run_backprose_reflect),
    "trace-opt (OptoPrime)": ("opto", run_trace),
    "textgrad (TGD)": ("textgrad", run_textgrad),
    "dspy (GEPA)": ("dspy", run_dspy),
}


def cells(runs: list[tuple[Scores | None, int, int, float]]) -> str:
    """Score, calls, tokens and wall seconds of a cell: the one run, or the mean (and range) of several."""
    scored = [r for r in runs if r[0] is not None]
    if not scored:
        calls, tokens, seconds = runs[0][1:]
        return f"- | {calls} | {tokens} | {seconds:.0f}"
    finals = [r[0][1] for r in scored]  # type: ignore[index]
    score = f"{scored[0][0][0]:.2f} → {sum(finals) / len(finals):.2f}"  # type: ignore[index]
    if len(scored) > 1:
        score += f" ({min(finals):.2f}–{max(finals):.2f})"

    def mean(i: int) -> float:
        return sum(r[i] for r in scored) / len(scored)
    calls = f"{mean(1):.0f}" if len(scored) == 1 else f"{mean(1):.1f}"
    return f"{score} | {calls} | {mean(2):.0f} | {mean(3):.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=300)
    ap.add_argument("--only", default="", help="comma-separated problem names")
    ap.add_argument("--frameworks", default="", help="comma-separated prefixes, e.g. backprose,dspy")
    ap.add_argument("--base-url", default=None, help="an OpenAI-compatible endpoint (default: the local model)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", default=None, help="also write the Markdown table to this file")
    ap.add_argument("--repeats", type=int, default=1,
                    help="runs per cell: a local server is not bit-for-bit repeatable at temperature 0 (its prompt "
                         "cache changes the arithmetic), so a cell shows the mean final score and its range")
    args = ap.parse_args()
    local = None
    if args.base_url:
        base_url, model = args.base_url, args.model or "default"
    else:
        from backprose.llm.local import Local

        local = Local()
        base_url, model = str(local.base_url), local.model
    proxy = Proxy([Route(ANY_MODEL, base_url, "all")], api_key=API_KEY)
    ask = make_ask(proxy.base_url, model)
    wanted = set(filter(None, args.only.split(",")))
    frameworks = [f for f in filter(None, args.frameworks.split(","))]
    rows = []
    header = (f"model `{model}`, at most {args.steps} optimizer steps, {args.max_tokens} reply tokens, "
              f"{args.repeats} run(s) per cell, "
              f"{time.strftime('%Y-%m-%d')}, {platform.machine()} with {os.cpu_count()} cores")
    print(header, flush=True)
    for problem in PROBLEMS:
        if wanted and problem.name not in wanted:
            continue
        for name, (module, run) in RUNNERS.items():
            if frameworks and not any(name.startswith(f) for f in frameworks):
                continue
            runs, note = [], ""
            for _ in range(max(args.repeats, 1)):
                calls0, tokens0 = proxy.snapshot()
                start = time.perf_counter()
                try:
                    __import__(module)
                    scores = run(problem, proxy.base_url, model, ask, args.steps, args.max_tokens)
                except ImportError as exc:
                    scores, note = None, f"not installed ({exc.name}); `pip install` it to include it"
                except NotApplicable as exc:
                    scores, note = None, f"not applicable: {exc}"
                except Exception as exc:
                    scores, note = None, f"failed: {type(exc).__name__}: {str(exc)[:120]}"
                calls, tokens = (a - b for a, b in zip(proxy.snapshot(), (calls0, tokens0), strict=True))
                runs.append((scores, calls, tokens, time.perf_counter() - start))
                if scores is None:
                    break
            row = f"| {problem.name} | {name} | {cells(runs)} | {note} |"
            print(row, flush=True)
            rows.append(row)
    table = "\n".join([header, "", "| problem | framework | score (initial → final) | calls | tokens | wall s | note |",
                       "| --- | --- | --- | --- | --- | --- | --- |", *rows])
    print("\n" + table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    if local is not None:
        local.close()


if __name__ == "__main__":
    main()
