"""Agent network on arithmetic word problems, local model: trained network vs three baselines.

    python bench/agent_network.py [--train 4] [--batch 2] [--val 3] [--test 12] [--calls 60]
                                  [--max-tokens 200] [--meta-base-url URL] [--cache DIR] [--rows abcd]
                                  [--rewriter reflect|textgrad] [--per-step 1] [--demos 2]

Prints test accuracy and model calls for (a) one agent with the initial prompt, (b) the untrained
network, (c) the network trained by plain TextGrad on its prompts and (d) the network trained by its own
backward phase (NetworkOptimizer: global and local gradients, structural edits, and worked examples taken
from runs that scored full marks; `--demos 0` turns the last off). (c) and (d) get the same budget of training
calls, enforced before each request (a step cut off by it is dropped); the calls used are printed.
Agents use `Local()` (set `BACKPROSE_LOCAL_BASE_URL` to use a running server); `--meta-base-url` points the
optimizers (gradients and rewrites) at another OpenAI-compatible server, e.g. a larger local model.
Each row is printed as soon as it is measured, so a long run shows its progress.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path
from typing import Any

from backprose.agent import Agent
from backprose.llm.accounting import track_usage
from backprose.networks import AgentNetwork, NetworkOptimizer
from backprose.optimizers.textgrad import TextGrad
from backprose.train import Budget, Trainer, evaluate

_spec = importlib.util.spec_from_file_location("ann_example", Path(__file__).parent.parent / "examples" /
                                               "agent_network.py")
example = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(example)  # type: ignore[union-attr]


def requests(usage: Any) -> int:
    """Model requests made, answered by the server or replayed from `--cache` alike (same workload)."""
    d = usage.as_dict()
    return d["calls"] + d["cache_hits"]


def accuracy(program: Any, test: list[Any]) -> tuple[float, int]:
    with track_usage() as usage:
        scores = [j.score for j in evaluate(program, test, example.guide, concurrency=1)]
    return sum(scores) / len(scores), requests(usage)


def trained(llm: Any, optimizer: Any, train: list[Any], val: list[Any], calls: int, batch: int,
            opts: dict[str, Any]) -> Any:
    net = AgentNetwork(example.FALLBACK, llm=llm, **opts)
    opt = optimizer(net)
    with track_usage() as usage:
        result = Trainer(net, train, val, example.guide, opt, batch_size=batch, budget=Budget(calls=calls),
                         concurrency=1).fit()
    return net, requests(usage), result


def steps(result: Any) -> None:
    """What each training step proposed, and why the trainer kept or refused it."""
    for h in result.history:
        print(f"    step {h['step']}: minibatch {h.get('batch_before')} -> {h.get('batch_after')}, "
              f"validation {h.get('val_before')} -> {h.get('val_after')}: {h.get('reason')}", flush=True)
        for change in (h.get("update") or {}).get("changes", []):
            new = json.dumps(change["new"])
            print(f"      {change['name']}: {new[:160]}{'...' if len(new) > 160 else ''}"
                  f"{'' if change['accepted'] else ' (refused: ' + change['reason'] + ')'}", flush=True)
    if result.stopped:
        print(f"    stopped: {result.stopped}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=int, default=4)
    parser.add_argument("--batch", type=int, default=2, help="training minibatch size")
    parser.add_argument("--val", type=int, default=3)
    parser.add_argument("--test", type=int, default=12)
    parser.add_argument("--calls", type=int, default=60, help="training budget in model calls for (c) and (d)")
    parser.add_argument("--max-tokens", type=int, default=200,
                        help="per agent reply; the 0.5B model's worked answers need about 150 tokens")
    parser.add_argument("--meta-base-url", default=None, help="OpenAI-compatible server for the optimizers")
    parser.add_argument("--cache", default=None, help="response cache directory (reruns replay finished calls)")
    parser.add_argument("--rows", default="abcd", help="which rows to measure, e.g. 'ad'")
    parser.add_argument("--rewriter", default="reflect", choices=["reflect", "textgrad"],
                        help="who rewrites the prompts in (d): Reflect with the local gradients as advice, or TextGrad")
    parser.add_argument("--per-step", type=int, default=1,
                        help="prompts (d) rewrites per step, in turn from the output side; 0 for all of them")
    parser.add_argument("--demos", type=int, default=2,
                        help="worked examples an agent of (d) keeps at most; 0 for none")
    args = parser.parse_args()

    from backprose.llm.local import Local
    from backprose.llm.openai_client import OpenAI

    llm = Local(cache=args.cache)
    meta = llm if args.meta_base_url is None else OpenAI(
        base_url=args.meta_base_url, timeout=600.0, max_concurrency=1, cache=args.cache,
        response_format_style="json_object_schema")
    opts = {"max_tokens": args.max_tokens, "temperature": 0}
    train = example.word_problems(args.train, 1)
    val = example.word_problems(args.val, 2)
    test = example.word_problems(args.test, 3)
    first = example.FALLBACK["layers"][0]["agents"][0]
    rows: list[tuple[str, float, int, int]] = []

    def row(name: str, acc: float, test_calls: int, train_calls: int) -> None:
        rows.append((name, acc, test_calls, train_calls))
        print(f"{name:52s} accuracy {acc:.2f}  calls: train {train_calls}, test {test_calls}", flush=True)

    print(f"test problems: {len(test)}, train {len(train)}, val {len(val)}, training budget {args.calls} calls, "
          f"agents {llm.base_url}, optimizers {meta.base_url}", flush=True)
    single = Agent(first["role"], first["prompt"] + " End with the answer as a number.", llm=llm, **opts)
    if "a" in args.rows:
        row("(a) single agent, initial prompt", *accuracy(single, test), 0)
    if "b" in args.rows:
        row("(b) untrained network", *accuracy(AgentNetwork(example.FALLBACK, llm=llm, **opts), test), 0)
    if "c" in args.rows:
        def textgrad(n: AgentNetwork) -> TextGrad:
            return TextGrad(n.prompt_parameters(), meta, momentum=2, max_tokens=192, workers=1)

        net_c, calls_c, res_c = trained(llm, textgrad, train, val, args.calls, args.batch, opts)
        steps(res_c)
        row("(c) network + plain TextGrad on prompts", *accuracy(net_c, test), calls_c)
    if "d" in args.rows:
        def network(n: AgentNetwork) -> NetworkOptimizer:
            return NetworkOptimizer(n, meta, max_tokens=192, rewriter=args.rewriter, per_step=args.per_step or None,
                                    demos=args.demos)

        net_d, calls_d, res_d = trained(llm, network, train, val, args.calls, args.batch, opts)
        steps(res_d)
        row("(d) network trained by its backward phase", *accuracy(net_d, test), calls_d)
    top = max((r[1] for r in rows), default=0.0)
    leaders = [r[0] for r in rows if r[1] == top]
    if len(rows) > 1:
        print("best variant: " + (leaders[0] if len(leaders) == 1 else "tie between " + ", ".join(leaders)))
    print(json.dumps({r[0]: {"accuracy": r[1], "train_calls": r[3], "test_calls": r[2]} for r in rows}))


if __name__ == "__main__":
    main()
