"""Prompt size per optimizer step as the graph grows: ours stays under the token budget, peers grow.

The graph is a chain: one trainable text through N ops, each also reading its own constant input. Our
OptoPrime and TextGrad run against scripted replies; trace-opt's OptoPrime prompt is built by its own
`summarize` + `construct_prompt` (no model needed) and textgrad runs on a recording fake engine. Peers are
optional: if their package is missing or fails at a size, that cell says so. Sizes are characters of the
largest prompt of one step (tokens ~ chars/4).

    python bench/optimizer_prompt_size.py [--sizes 10,100,400,1000,10000] [--budget 8000]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import backprose as bp
from backprose.llm import Scripted
from backprose.optimizers import OptoPrime, TextGrad

PIECE = "piece {i}: some context the op reads " * 3


def ours_optoprime(n: int, budget: int) -> tuple[int, int]:
    step = bp.bundle(name="append")(lambda text, piece: (text + " " + piece)[-400:])
    p = bp.param("Summarize the input.", name="prompt", description="instructions")
    v = p
    for i in range(n):
        v = step(v, bp.Node(PIECE.format(i=i), name="piece"))
    v.backward("The output is too long.")
    llm = Scripted(['{"reasoning": "", "suggestion": {"prompt": "Short."}}'])
    OptoPrime([p], llm=llm, budget=budget).step()
    return max(sum(len(m["content"]) for m in msgs) for msgs in llm.prompts), len(llm.prompts)


def ours_textgrad(n: int, budget: int) -> tuple[int, int]:
    step = bp.bundle(name="append")(lambda text, piece: (text + " " + piece)[-400:])
    p = bp.param("Summarize the input.", name="prompt", description="instructions")
    v = p
    for i in range(n):
        v = step(v, bp.Node(PIECE.format(i=i), name="piece"))
    llm = Scripted(lambda m: '{"reasoning": "", "value": "Short."}' if "improve one" in m[0]["content"]
                   else "Make the prompt ask for less.")
    opt = TextGrad([p], llm=llm, budget=budget)
    v.backward("The output is too long.", propagator=opt.propagator)
    opt.step()
    return max(sum(len(m["content"]) for m in msgs) for msgs in llm.prompts), len(llm.prompts)


def trace_optoprime(n: int) -> tuple[int, int]:
    os.environ.setdefault("TRACE_DEFAULT_LLM_BACKEND", "CustomLLM")
    from opto import trace
    from opto.optimizers import OptoPrime as TraceOptoPrime

    @trace.bundle()
    def append(text, piece):
        """Append the piece to the text, keeping the last 400 characters."""
        return (text + " " + piece)[-400:]

    p = trace.node("Summarize the input.", trainable=True, description="instructions")
    v = p
    for i in range(n):
        v = append(v, trace.node(PIECE.format(i=i)))
    opt = TraceOptoPrime([p], llm=object())
    opt.zero_feedback()
    opt.backward(v, "The output is too long.")
    system, user = opt.construct_prompt(opt.summarize())
    return len(system) + len(user), 1


def textgrad_prompts(n: int) -> tuple[int, int]:
    import textgrad as tg
    from textgrad.engine.base import EngineLM

    seen: list[int] = []

    class Fake(EngineLM):
        model_string = "fake"

        def generate(self, prompt: Any, system_prompt: str | None = None, **kwargs: Any) -> str:
            seen.append(len(str(prompt)) + len(system_prompt or ""))
            return "<IMPROVED_VARIABLE>Short.</IMPROVED_VARIABLE>" if "IMPROVED_VARIABLE" in str(prompt) \
                else "Make the prompt ask for less."

        def __call__(self, prompt: Any, **kwargs: Any) -> str:
            return self.generate(prompt, **kwargs)

    engine = Fake()
    tg.set_backward_engine(engine, override=True)
    append = tg.autograd.StringBasedFunction(lambda text, piece: (text.value + " " + piece.value)[-400:],
                                             "Append the piece to the text, keeping the last 400 characters.")
    p = tg.Variable("Summarize the input.", requires_grad=True, role_description="instructions")
    v = p
    for i in range(n):
        v = append(inputs={"text": v, "piece": tg.Variable(PIECE.format(i=i), requires_grad=False,
                                                           role_description="piece")})
    loss = tg.autograd.StringBasedFunction(lambda out: "The output is too long.", "Judge the output.")(
        inputs={"out": v})
    opt = tg.TGD([p], engine=engine)
    loss.backward()
    opt.step()
    return max(seen), len(seen)


def cell(fn: Any, *args: Any) -> str:
    start = time.perf_counter()
    try:
        chars, calls = fn(*args)
    except ImportError as exc:
        return f"not installed ({exc.name})"
    except BaseException as exc:  # RecursionError and friends: report, keep going
        return f"failed: {type(exc).__name__}"
    return f"{chars:>8} chars ~{chars // 4:>6} tok, {calls} calls ({time.perf_counter() - start:.1f}s)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,400,1000,10000")
    parser.add_argument("--budget", type=int, default=8000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        row = {"ops": n, "ours OptoPrime": cell(ours_optoprime, n, args.budget),
               "trace-opt OptoPrime": cell(trace_optoprime, n),
               "ours TextGrad (largest call)": cell(ours_textgrad, n, args.budget),
               "textgrad (largest call)": cell(textgrad_prompts, n)}
        rows.append(row)
        if not args.json:
            print(f"--- {n} ops (budget {args.budget} tokens ~ {args.budget * 4} chars)", flush=True)
            for k, val in row.items():
                if k != "ops":
                    print(f"  {k:<30} {val}", flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
