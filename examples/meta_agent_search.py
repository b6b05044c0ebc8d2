"""Meta Agent Search on generated arithmetic word problems, offline on the embedded local model.

A meta agent (the local model) reads a slice of the archive and programs new agent designs; each design
runs in isolated workers on the validation problems, is debugged on error, scored with a bootstrap
interval and archived. The design best on validation is then scored once on the held-out test problems,
exported as a standalone file, and its prompts are tuned by OptoPrime as a bp.Module.

    python examples/meta_agent_search.py                     # 2 generations, 8 validation problems
    python examples/meta_agent_search.py --generations 4 --archive runs/mas.jsonl   # resumable
    python examples/meta_agent_search.py --tune              # plus one prompt-optimization step

Every model reply is cached under --cache, so a rerun or a resumed run repeats no call.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from backprose.isolation import Limits
from backprose.llm import Local, ResponseCache, track_usage
from backprose.search import DesignModule, MetaAgentSearch, arithmetic
from backprose.search import seeds as seed_designs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generations", type=int, default=2)
    ap.add_argument("--validation", type=int, default=8)
    ap.add_argument("--test", type=int, default=8)
    ap.add_argument("--archive", default="runs/meta_agent_search.jsonl")
    ap.add_argument("--cache", default="runs/cache")
    ap.add_argument("--seeds", default="chain_of_thought,self_consistency,step_back")
    ap.add_argument("--export", default="runs/best_agent.py")
    ap.add_argument("--tune", action="store_true", help="one OptoPrime step on the best design's prompts")
    args = ap.parse_args()

    task = arithmetic(args.validation, args.test, seed=0)
    cache = ResponseCache(args.cache)
    # Small answers keep the 0.5B model fast: designs rarely need more than a few sentences per call.
    agents = Local(cache=cache, options={"max_tokens": 96})
    meta = Local(cache=cache)
    seeds = seed_designs.load(args.seeds.split(","))

    with MetaAgentSearch(task, args.archive, meta, agents, seeds=seeds, reflections=1, debug_rounds=2,
                         limits=Limits(wall_time=600, memory_mb=1024), max_calls=4,
                         meta_options={"max_tokens": 700, "temperature": 0.7},
                         on_design=lambda d: print(" ", d, flush=True)) as search:
        print(f"archive {args.archive}: {len(search.archive)} designs already in")
        result = search.run(args.generations)
        print(result.summary())
        best_seed = max((d for d in search.archive if d.operator == "seed" and d.ok),
                        key=lambda d: (d.fitness.median, d.fitness.mean))
        print(f"best seed {best_seed.name}: validation {best_seed.fitness}")
        Path(args.export).parent.mkdir(parents=True, exist_ok=True)
        search_module = DesignModule(result.best, agents, sandbox=search.evaluator.sandbox)
        search_module.export(args.export)
        print(f"best design written to {args.export}")

        if args.tune:
            from backprose.optimizers.optoprime import OptoPrime

            example = task.validation[0]
            out = search_module(example["input"])
            right = task.score(out.value, example)
            out.backward("Correct." if right else f"Wrong: the answer is {example['target']}.")
            with track_usage() as usage:
                update = OptoPrime(search_module.parameters(), llm=meta, max_tokens=300).step()
            print(f"tuned {len(update.accepted)} prompt(s) with {usage.calls} call(s); "
                  f"test after tuning: {search.score(result.best, 'test', search_module.prompt_values())[0]}")


if __name__ == "__main__":
    main()
