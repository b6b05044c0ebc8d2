"""`backprose demo`: optimize a real prompt offline on the embedded local model, in a few minutes.

The task is answer-format compliance on arithmetic word problems: the small model usually computes the
right number but wraps it in a sentence, which the strict `numeric` metric scores 0. OptoPrime reads the
metric's feedback and rewrites the instructions; validation-gated acceptance keeps only real gains.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("arithmetic.jsonl")
STEPS = 3
VAL_LIMIT = 8
CANDIDATES = 3  # proposals per step (later ones sampled hotter): a small optimizer model needs a few tries
INSTRUCTION = ("#Variables holds the instructions given to a language model. Read #Feedback to see what format "
               "the replies must have, and rewrite the instructions so that the model replies in exactly that "
               "format.")


def run_demo(out: str | Path | None = None, steps: int | None = None, llm: Any = None) -> int:
    """Run the demo and print before/after validation scores, model calls, wall time and the report path."""
    from backprose.data import load, split
    from backprose.demo.program import Solver
    from backprose.llm.accounting import track_usage
    from backprose.optimizers.optoprime import OptoPrime
    from backprose.report import write_report
    from backprose.train import Trainer
    from backprose.train.guides import numeric
    from backprose.train.strategies import BestOfN

    run_dir = Path(out or Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    train, val = split(load(DATA), (0.5, 0.5), seed=0)
    val = val[:VAL_LIMIT]
    print(f"backprose demo: {len(train)} training and {len(val)} validation word problems; the answer must be "
          "the bare number.")
    if llm is None:
        from backprose.llm.local import Local

        print("starting the embedded local model (Qwen2.5-Coder-0.5B on the CPU)...", flush=True)
        llm = Local(cache=True)
    solver = Solver(llm=llm)
    print(f"starting prompt: {solver.instructions.value!r}")
    config = {"program": "backprose.demo.program:program", "data": str(DATA), "metric": "numeric",
              "optimizer": "optoprime", "optimizer_options": {"max_tokens": 160, "budget": 3000,
                                                              "instruction": INSTRUCTION},
              "strategy": "best_of_n", "candidates": CANDIDATES, "steps": steps or STEPS, "batch_size": 4,
              "val_fraction": 0.5, "val_limit": VAL_LIMIT, "seed": 0}  # `backprose resume` rebuilds the run from this
    optimizer = OptoPrime(solver.parameters(), llm=llm, **config["optimizer_options"])
    start = time.perf_counter()
    with track_usage() as usage:
        result = Trainer(solver, train, val, numeric, optimizer, strategy=BestOfN(CANDIDATES), steps=steps or STEPS,
                         batch_size=4, seed=0, run_dir=run_dir, progress=True, llm=llm, config=config).fit()
    seconds = time.perf_counter() - start
    report = write_report(run_dir)
    u = usage.as_dict()
    print(f"\nvalidation score: {result.initial_val:.2f} before -> {result.final_val:.2f} after")
    print(f"optimized prompt: {solver.instructions.value!r}")
    print(f"model calls: {u['calls']} ({u['cache_hits']} answered from the cache), wall time {seconds:.0f}s")
    print(f"report: {report}")
    print("Every model answer is cached: running `backprose demo` again replays this run in seconds.")
    return 0
