"""Agent network on HumanEval (the agentic-neural-network paper's own benchmark) against four baselines.

    python -m bench.agent_network [--quick] [--seeds 0,1,2] [--train 20] [--val 20] [--test 60]
                                  [--calls 160] [--batch 2] [--rows single,network,demos,textgrad,trained]
                                  [--out runs/bench/agent_network.jsonl] [--cache DIR]
                                  [--program-base-url URL] [--optimizer-base-url URL]

Rows, each on the suite's HumanEval split (`bench.suite.load_task("humaneval", seed)`):
- single: one call with the task's neutral instruction, the suite's program as it starts;
- network: the untrained agent network (a writer, then a reviewer who checks and corrects its draft);
- demos: that network, its agents' worked examples trained from runs that passed every test, prompts and
  structure frozen (`NetworkOptimizer(demos_only=True)`: no optimizer call);
- textgrad: plain TextGrad on the single call's instruction;
- trained: the network trained by its own backward phase (global and local gradients, Reflect rewrites one
  prompt per step, worked examples).
Every trained row trains on train, and the trainer decides every change on validation; each row gets the
same budget of training calls (program and optimizer calls together, enforced before each request), and
the table reports both kinds spent. Test is scored once per final program, after training: single-call
programs by the suite's one scoring code (`bench.suite.program.score`), networks with the same guide. The
program runs on the 0.5B model at the suite's temperature, the optimizers on the 1.5B model.

Each (row, seed) cell is appended to `--out` as soon as it is measured; a rerun with the same file and
settings skips finished cells. The table (command, commit, budgets) is printed at the end.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from backprose.agent import call_llm
from backprose.module import Module
from backprose.networks import AgentNetwork, NetworkOptimizer
from backprose.nodes.parameter import param
from backprose.optimizers.textgrad import TextGrad
from backprose.train import Budget, Trainer
from backprose.train.guides import as_guide
from bench.cells import Cells, sized, table
from bench.suite import program as suite
from bench.suite.tasks import Task, load_task

ROWS = (("single", "single agent (one call)"), ("network", "untrained network"),
        ("demos", "network, worked examples only"), ("textgrad", "single agent + plain TextGrad"),
        ("trained", "network trained by its backward phase"))
QUICK = {"seeds": "0", "train": 4, "val": 4, "test": 6, "calls": 40}
FULL = {"seeds": "0,1,2", "train": 20, "val": 20, "test": 60, "calls": 160}
OPTIMIZER_TOKENS = 384


def network_spec(instruction: str) -> dict[str, Any]:
    """The initial network: one layer whose two agents work in turn, a writer and a reviewer of its draft."""
    return {"task": instruction, "layers": [
        {"name": "code", "subtask": "Write the function, then check it against the docstring and its examples.",
         "aggregation": "chain", "agents": [
             {"id": "writer", "role": "You are a careful Python programmer.", "prompt": instruction},
             {"id": "reviewer", "role": "You review Python code.",
              "prompt": "Check the draft against the docstring and its examples. Reply with the complete "
                        "corrected function, code only."}]}]}


class SingleCall(Module):
    """The suite's program as a module: one call, its instruction the one trainable text."""

    def __init__(self, instruction: str, llm: Any, max_tokens: int) -> None:
        self.instruction = param(instruction, name="instruction",
                                 description="system prompt of the one model call that answers each input")
        self.llm, self.max_tokens = llm, max_tokens

    def __call__(self, question: Any) -> Any:
        return call_llm(question, system=self.instruction, llm=self.llm, temperature=suite.PROGRAM_TEMPERATURE,
                        max_tokens=self.max_tokens)


@dataclass
class Models:
    """The program model (a backprose client and, for the suite's scoring code, an `openai.OpenAI` on the same
    server) and the optimizer model."""

    program: Any
    scorer: Any
    optimizer: Any


def requests(llm: Any) -> int:
    """Requests a client made: answered by the server or replayed from the cache alike (the same workload)."""
    return 0 if llm is None else llm.usage.calls + llm.usage.cache_hits


def fit(row: str, task: Task, models: Models, *, calls: int, batch: int, seed: int) -> tuple[Any, list[dict]]:
    """Train the row's program on train, deciding on validation; returns it and the trainer's history.

    Never reads `task.test`."""
    tokens = suite.max_tokens(task.name)
    options = {"max_tokens": tokens, "temperature": suite.PROGRAM_TEMPERATURE}
    if row == "single":
        return suite.Final(task.instruction), []
    if row == "textgrad":
        module: Any = SingleCall(task.instruction, models.program, tokens)
        opt: Any = TextGrad(module.parameters(), models.optimizer, momentum=2, max_tokens=OPTIMIZER_TOKENS,
                            temperature=suite.OPTIMIZER_TEMPERATURE, workers=1)
    else:
        module = AgentNetwork(network_spec(task.instruction), llm=models.program, **options)
        if row == "network":
            return module, []
        opt = NetworkOptimizer(module, models.optimizer, rewriter="reflect", per_step=1, demos=2,
                               demos_only=row == "demos", max_tokens=OPTIMIZER_TOKENS,
                               temperature=suite.OPTIMIZER_TEMPERATURE)
    result = Trainer(module, task.train, task.validation, task.guide, opt, batch_size=batch,
                     budget=Budget(calls=calls), concurrency=1, seed=seed).fit()
    history = [{k: h.get(k) for k in ("step", "val_before", "val_after", "reason")} for h in result.history]
    if row == "textgrad":
        return suite.Final(module.instruction.value), history
    return module, history


def score_network(network: AgentNetwork, examples: Sequence[Any], task: Task, *,
                  concurrency: int = 1) -> list[suite.Item]:
    """A network's test items, judged by the task's guide exactly as `suite.score` judges a single call."""
    judge = as_guide(task.guide)

    def one(example: Any) -> suite.Item:
        output = str(network(str(example.input)).value)
        verdict = judge(output, example)
        return suite.Item(str(example.id), str(example.input), output, float(verdict.score), str(verdict.feedback))

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, examples))


def cell(row: str, task: Task, models: Models, *, calls: int, batch: int) -> dict[str, Any]:
    """One (row, seed) result: train, then score test once with the final program."""
    program0, optimizer0 = requests(models.program), requests(models.optimizer)
    final, history = fit(row, task, models, calls=calls, batch=batch, seed=task.seed)
    spent = {"program": requests(models.program) - program0, "optimizer": requests(models.optimizer) - optimizer0}
    before = requests(models.program)
    if isinstance(final, suite.Final):
        items = suite.score(final, task.test, task, models.scorer, concurrency=1)
        spent["test"] = len(items)  # one request per item, through the scoring client
        learned: Any = final.as_dict()
    else:
        items = score_network(final, task.test, task)
        spent["test"] = requests(models.program) - before
        learned = final.spec()
    return {"row": row, "seed": task.seed, "scores": [i.score for i in items], "items": [i.as_dict() for i in items],
            "calls": spent, "history": history, "final": learned}


def run(rows: Sequence[str], seeds: Sequence[int], tasks: Any, models: Models, cells: Cells, *, calls: int,
        batch: int) -> list[dict[str, Any]]:
    """Every missing cell, seed by seed; `tasks(seed)` gives the split."""
    for seed in seeds:
        task = None
        try:
            for row in rows:
                if cells.done(row, seed):
                    continue
                task = task or tasks(seed)
                found = cells.add(cell(row, task, models, calls=calls, batch=batch))
                print(f"  seed {seed} {row:9s} test {sum(found['scores']):g}/{len(found['scores'])}  "
                      f"calls {found['calls']}", flush=True)
                for h in found["history"]:
                    print(f"    step {h['step']}: validation {h['val_before']} -> {h['val_after']}: {h['reason']}",
                          flush=True)
        finally:
            if task is not None and hasattr(task.guide, "close"):
                task.guide.close()  # HumanEval's guide holds sandbox workers
    return cells.cells


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"small sizes: {QUICK}")
    ap.add_argument("--seeds", help=f"comma-separated split seeds (default {FULL['seeds']})")
    ap.add_argument("--train", type=int)
    ap.add_argument("--val", type=int)
    ap.add_argument("--test", type=int)
    ap.add_argument("--calls", type=int, help="training budget of every trained row, program + optimizer calls")
    ap.add_argument("--batch", type=int, default=2, help="training minibatch size")
    ap.add_argument("--rows", default=",".join(k for k, _ in ROWS))
    ap.add_argument("--out", default=None, help="results file (JSONL, one cell a line; default runs/bench/...)")
    ap.add_argument("--cache", default=None, help="response cache directory (reruns replay finished calls)")
    ap.add_argument("--program-base-url", default=None, help="a running server of the program model")
    ap.add_argument("--optimizer-base-url", default=None, help="a running server of the optimizer model")
    args = ap.parse_args()
    sizes = {**(QUICK if args.quick else FULL), **{k: v for k, v in vars(args).items() if k in FULL and v is not None}}
    rows = [r for r in args.rows.split(",") if r]
    unknown = set(rows) - {k for k, _ in ROWS}
    if unknown:
        ap.error(f"unknown rows {sorted(unknown)}; pick from {[k for k, _ in ROWS]}")
    seeds = [int(s) for s in str(sizes["seeds"]).split(",")]
    out = args.out or f"runs/bench/agent_network{'_quick' if args.quick else ''}.jsonl"

    import openai

    from backprose.llm import OpenAI
    from backprose.llm.local import Local

    def client(model: str | None, base_url: str | None) -> Any:
        if base_url:
            return OpenAI(None, base_url, max_concurrency=1, cache=args.cache)
        return Local(model, cache=args.cache)

    # The embedded servers, unless running ones are given: the default (0.5B) model and the 1.5B model.
    program = client(None, args.program_base_url)
    needed = bool({"textgrad", "trained"} & set(rows))  # worked examples only asks the optimizer nothing
    optimizer = client(suite.OPTIMIZER_MODEL, args.optimizer_base_url) if needed else None
    models = Models(program, openai.OpenAI(base_url=program.base_url, api_key="local", max_retries=4), optimizer)
    # Asked now: a rerun with every cell done makes no request.
    served = (program.model, optimizer.model if optimizer is not None else "(not used)")
    settings = {"bench": "agent_network", "task": "humaneval", "train": sizes["train"], "val": sizes["val"],
                "test": sizes["test"], "calls": sizes["calls"], "batch": args.batch,
                "program": suite.PROGRAM_MODEL, "optimizer": suite.OPTIMIZER_MODEL}
    cells = Cells(out, settings)

    def tasks(seed: int) -> Task:
        return sized(load_task("humaneval", seed, test=sizes["test"]), sizes["train"], sizes["val"])

    print(f"agent network on HumanEval: seeds {seeds}, train {sizes['train']}, validation {sizes['val']}, "
          f"test {sizes['test']}, training budget {sizes['calls']} calls per trained row; results in {out}",
          flush=True)
    try:
        found = run(rows, seeds, tasks, models, cells, calls=sizes["calls"], batch=args.batch)
    finally:
        for llm in (program, optimizer):
            if llm is not None:
                llm.close()
    header = {"task": f"humaneval, suite split seeds {seeds}: train {sizes['train']}, validation {sizes['val']}, "
                      f"test {sizes['test']}",
              "models": f"program {served[0]} (temperature {suite.PROGRAM_TEMPERATURE}), optimizer "
                        f"{served[1]} (temperature {suite.OPTIMIZER_TEMPERATURE})",
              "budget": f"{sizes['calls']} training calls (program + optimizer) per trained row and seed, "
                        f"minibatch {args.batch}; every decision on validation; test scored once per final program"}
    print(table("agent network on HumanEval", header, [r for r in ROWS if r[0] in rows], found))


if __name__ == "__main__":
    main()
