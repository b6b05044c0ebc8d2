"""Meta Agent Search on a BIG-bench task of the suite, against its best seed design.

    python -m bench.meta_search [--quick] [--task navigate] [--seeds 0] [--val 20] [--test 60]
                                [--generations 4] [--designs chain_of_thought,self_consistency,step_back]
                                [--agent-tokens 192] [--out runs/bench/meta_search.jsonl] [--cache DIR]
                                [--program-base-url URL] [--optimizer-base-url URL] [--throughput]

For each split seed (`bench.suite.load_task(task, seed)`): the seed designs and every design the meta agent
writes are scored on validation only (the archive holds validation fitness and nothing else); the final
design is the archive's best on validation, and the best seed design is chosen on validation too. Test is
scored once for each of the two (once in all when they are the same design), with the task's own guide,
after the search has ended. The designs call the 0.5B program model at the suite's temperature unless a
design asks for another; the meta agent runs on the 1.5B optimizer model. Rows report the calls each
spent: the best seed's row the seeds' validation evaluations, the search's row the whole search (seeds
included) and the meta agent's calls.

`--throughput` adds the isolation measurement: designs evaluated per minute in isolated workers against
in-process `exec`, with a stand-in model of fixed latency (goal: isolated at most 1.5x the time).
Each (row, seed) cell is appended to `--out` as it finishes; a rerun skips finished cells and resumes a
search from its archive (`<out>.<task>.<seed>.archive.jsonl`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from backprose.isolation import Limits, Sandbox
from backprose.search import Design, Evaluator, MetaAgentSearch, SearchTask, arithmetic
from backprose.search import seeds as seed_designs
from backprose.search.evaluate import _chunks
from backprose.search.worker import ENTRY, SUFFIX
from backprose.train.guides import as_guide
from bench.cells import Cells, sized, table
from bench.suite import BIGBENCH_TASKS, load_task
from bench.suite import program as suite
from bench.suite.tasks import Task

ROWS = (("seed", "best seed design (chosen on validation)"), ("search", "Meta Agent Search (chosen on validation)"))
QUICK = {"seeds": "0", "val": 6, "test": 10, "generations": 1, "designs": "chain_of_thought,step_back"}
FULL = {"seeds": "0", "val": 20, "test": 60, "generations": 4, "designs": "chain_of_thought,self_consistency,step_back"}


def search_task(task: Task) -> SearchTask:
    """The suite task as a search task: its validation and test splits, scored by the task's own guide."""
    judge = as_guide(task.guide)

    def score(answer: Any, example: Any) -> float:
        return float(judge("" if answer is None else str(answer), example["example"]).score)

    def part(examples: Any) -> list[dict[str, Any]]:
        return [{"input": str(ex.input), "target": ex.target, "example": ex} for ex in examples]

    form = ("Each input is a question followed by lettered options; the answer is the chosen option."
            if task.validation and "options" in task.validation[0].meta else "The answer is the requested text.")
    return SearchTask(task.name, f"BIG-bench {task.name}: {task.instruction} {form}", part(task.validation),
                      part(task.test), score, metadata={"seed": task.seed})


def best_on_validation(designs: Sequence[Design]) -> Design:
    """Highest validation median, then mean, then the earlier design: `Archive.best`'s order."""
    return max((d for d in designs if d.ok), key=lambda d: (d.fitness.median, d.fitness.mean, -d.id))  # type: ignore[union-attr]


def requests(usage: dict[str, int], prefix: str = "") -> int:
    return usage.get(f"{prefix}calls", 0) + usage.get(f"{prefix}cache_hits", 0)


def compare(task: SearchTask, meta_llm: Any, agents: Any, designs: Sequence[Design], generations: int, *,
            archive: str | Path | None, seed: int = 0, limits: Limits | None = None,
            meta_options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The search's final design and the best seed design, both chosen on validation, each scored on test
    once after the search. Returns the two cells (rows "seed" and "search")."""
    with MetaAgentSearch(task, archive, meta_llm, agents, seeds=designs, reflections=1, debug_rounds=2,
                         max_calls=4, seed=seed, limits=limits or Limits(wall_time=900),
                         meta_options=meta_options or {}) as search:
        search.evaluate_seeds()
        for g in range(search.archive.generations() + 1, generations + 1):
            search.step(g)
        names = {d.name for d in designs}
        seeds = [d for d in search.archive if d.operator == "seed" and d.name in names]
        final, best_seed = best_on_validation(list(search.archive)), best_on_validation(seeds)
        # Test, only now that both are chosen: once per design.
        tested = {d.id: search.score(d, "test") for d in {final.id: final, best_seed.id: best_seed}.values()}
    cells = []
    spent = {"seed": {"program": sum(requests(d.usage, "agent_") for d in seeds), "optimizer": 0},
             "search": {"program": sum(requests(d.usage, "agent_") for d in search.archive),
                        "optimizer": sum(requests(d.usage, "meta_") for d in search.archive)}}
    for row, design in (("seed", best_seed), ("search", final)):
        fitness, ev = tested[design.id]
        answers = list(ev.answers) + [None] * (len(task.test) - len(ev.answers))
        scores = task.scores(answers, "test")
        cells.append({"row": row, "seed": seed, "design": design.name, "design_id": design.id,
                      "validation": design.fitness.as_dict(), "scores": scores,  # type: ignore[union-attr]
                      "items": [{"input": ex["input"], "output": None if a is None else str(a), "score": s}
                                for ex, a, s in zip(task.test, answers, scores, strict=True)],
                      "calls": {**spent[row], "test": requests(ev.usage)},
                      "archive": [{"id": d.id, "name": d.name, "operator": d.operator,
                                   "validation": str(d.fitness) if d.ok else None} for d in search.archive]})
    return cells


# --- isolation throughput ------------------------------------------------------------------------------------
STANDIN = '''
import re, time, zlib

def reply(messages, options):
    time.sleep({latency})
    text = messages[-1]["content"]
    return "Answer: " + str(zlib.crc32(text.encode()) % 7)
'''


def throughput(designs: int, latency: float) -> str:
    task = arithmetic(16, 0, seed=3)
    codes = [s.code for s in seed_designs.load(["chain_of_thought", "step_back", "role_assignment"])]
    config = {"kind": "python", "source": STANDIN.format(latency=latency)}
    inputs = task.inputs()

    def in_process(code: str) -> list:
        # The unsafe baseline: the design runs in this very process, in threads like the two workers.
        def one(chunk: list) -> dict:
            ns: dict = {"__name__": "__design__", "__file__": "<design>"}
            exec(compile(code.rstrip() + "\n" + SUFFIX, "<design>", "exec"), ns)
            return ns[ENTRY](chunk, config, {})
        with ThreadPoolExecutor(2) as pool:
            return [a for r in pool.map(one, _chunks(inputs, 2)) for a in r["answers"]]

    with Sandbox(limits=Limits(wall_time=120), workers=2) as sb:
        sb.warm()
        evaluator = Evaluator(config, sandbox=sb, limits=Limits(wall_time=120))
        evaluator.evaluate(codes[0], inputs[:2])  # warm the workers' imports
        in_process(codes[0])
        t0 = time.perf_counter()
        for i in range(designs):
            assert evaluator.evaluate(codes[i % len(codes)], inputs).ok
        isolated = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(designs):
            in_process(codes[i % len(codes)])
        local = time.perf_counter() - t0
    return (f"== evaluation throughput ({designs} designs x {len(inputs)} inputs, 2 workers, stand-in model with "
            f"{1000 * latency:.0f} ms per call)\nisolated   {60 * designs / isolated:8.1f} designs/min\n"
            f"in-process {60 * designs / local:8.1f} designs/min\n"
            f"isolated / in-process time: {isolated / local:.2f}x (goal < 1.5x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"small sizes: {QUICK}")
    ap.add_argument("--task", default="navigate", choices=BIGBENCH_TASKS)
    ap.add_argument("--seeds", help="comma-separated split seeds")
    ap.add_argument("--val", type=int)
    ap.add_argument("--test", type=int)
    ap.add_argument("--generations", type=int)
    ap.add_argument("--designs", help="seed designs (backprose.search.seeds)")
    ap.add_argument("--agent-tokens", type=int, default=192, help="max_tokens of each call a design makes")
    ap.add_argument("--out", default=None, help="results file (JSONL, one cell a line; default runs/bench/...)")
    ap.add_argument("--cache", default=None, help="response cache directory (reruns replay finished calls)")
    ap.add_argument("--program-base-url", default=None, help="a running server of the program model")
    ap.add_argument("--optimizer-base-url", default=None, help="a running server of the optimizer model")
    ap.add_argument("--throughput", action="store_true", help="also measure isolated vs in-process evaluation")
    args = ap.parse_args()
    sizes = {**(QUICK if args.quick else FULL), **{k: v for k, v in vars(args).items() if k in FULL and v is not None}}
    seeds = [int(s) for s in str(sizes["seeds"]).split(",")]
    names = [n for n in sizes["designs"].split(",") if n]
    out = Path(args.out or f"runs/bench/meta_search_{args.task}{'_quick' if args.quick else ''}.jsonl")
    if args.throughput:
        print(throughput(designs=12, latency=0.02), flush=True)

    from backprose.llm import OpenAI
    from backprose.llm.local import Local

    def client(model: str | None, base_url: str | None, **options: Any) -> Any:
        if base_url:
            return OpenAI(None, base_url, max_concurrency=1, cache=args.cache, options=options)
        return Local(model, cache=args.cache, options=options)

    # The embedded servers, unless running ones are given: the default (0.5B) model and the 1.5B model.
    agents = client(None, args.program_base_url, max_tokens=args.agent_tokens,
                    temperature=suite.PROGRAM_TEMPERATURE)
    meta = client(suite.OPTIMIZER_MODEL, args.optimizer_base_url)
    meta_options = {"max_tokens": 700, "temperature": suite.OPTIMIZER_TEMPERATURE}
    served = (agents.model, meta.model)  # asked now: a rerun with every cell done makes no request
    settings = {"bench": "meta_search", "task": args.task, "val": sizes["val"], "test": sizes["test"],
                "generations": sizes["generations"], "designs": names, "agent_tokens": args.agent_tokens,
                "program": suite.PROGRAM_MODEL, "optimizer": suite.OPTIMIZER_MODEL, "meta_options": meta_options}
    cells = Cells(out, settings)
    print(f"Meta Agent Search on {args.task}: seeds {seeds}, validation {sizes['val']}, test {sizes['test']}, "
          f"{sizes['generations']} generations, seed designs {names}; results in {out}", flush=True)
    try:
        for seed in seeds:
            if all(cells.done(row, seed) for row, _ in ROWS):
                continue
            task = search_task(sized(load_task(args.task, seed, test=sizes["test"]), 0, sizes["val"]))
            archive = out.with_name(f"{out.stem}.{seed}.archive.jsonl")
            for found in compare(task, meta, agents, seed_designs.load(names), sizes["generations"],
                                 archive=archive, seed=seed, meta_options=meta_options):
                if not cells.done(found["row"], seed):
                    cells.add(found)
                print(f"  seed {seed} {found['row']:6s} {found['design']:24s} validation "
                      f"{found['validation']['mean']:.2f}  test {sum(found['scores']):g}/{len(found['scores'])}  "
                      f"calls {found['calls']}", flush=True)
    finally:
        agents.close()
        meta.close()
    header = {"task": f"{args.task}, suite split seeds {seeds}: validation {sizes['val']}, test {sizes['test']}",
              "models": f"designs call {served[0]} (temperature {suite.PROGRAM_TEMPERATURE}, "
                        f"max_tokens {args.agent_tokens}); meta agent {served[1]} "
                        f"(temperature {suite.OPTIMIZER_TEMPERATURE})",
              "budget": f"{sizes['generations']} generations after seeds {names}; 1 reflection, up to 2 debug "
                        "rounds per design; archive and both choices on validation; test once per chosen design"}
    for c in cells.cells:
        if c["row"] == "search":
            print(f"archive of seed {c['seed']} (validation only): " + "; ".join(
                f"#{d['id']} {d['name']} ({d['operator']}) {d['validation'] or 'failed'}" for d in c["archive"]))
    print(table(f"Meta Agent Search on {args.task}", header, ROWS, cells.cells))


if __name__ == "__main__":
    main()
