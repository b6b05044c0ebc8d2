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


def run_demo(out: str | Path | None = None, steps: int | None = None, llm: Any = None) -> int:
    """Run the demo and print before/after validation scores, model calls, wall time and the report path."""
    from backprose.data import load, split
    from backprose.demo.program import Solver
    from backprose.llm.accounting import track_usage
    from backprose.optimizers.optoprime import OptoPrime
    from backprose.report import write_report
    from backprose.train import Trainer
    from backprose.train.guides import numeric

    run_dir = Path(out or Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    train, val = split(load(DATA), (0.5, 0.5), seed=0)
    val = val[:8]
    print(f"backprose demo: {len(train)} training and {len(val)} validation word problems; the answer must be "
          "the bare number.")
    if llm is None:
        from backprose.llm.local import Local

        print("starting the embedded local model (Qwen2.5-Coder-0.5B on the CPU)...", flush=True)
        llm = Local(cache=True)
    solver = Solver(llm=llm)
    print(f"starting prompt: {solver.instructions.value!r}")
    optimizer = OptoPrime(solver.parameters(), llm=llm, max_tokens=256, budget=3000)
    config = {"program": "backprose.demo.program:program", "data": str(DATA), "metric": "numeric",
              "optimizer": "optoprime", "strategy": "best_of_n", "steps": steps or STEPS}
    start = time.perf_counter()
    with track_usage() as usage:
        result = Trainer(solver, train, val, numeric, optimizer, steps=steps or STEPS, batch_size=4, seed=0,
                         run_dir=run_dir, progress=True, llm=llm, config=config).fit()
    seconds = time.perf_counter() - start
    report = write_report(run_dir)
    u = usage.as_dict()
    print(f"\nvalidation score: {result.initial_val:.2f} before -> {result.final_val:.2f} after")
    print(f"optimized prompt: {solver.instructions.value!r}")
    print(f"model calls: {u['calls']} ({u['cache_hits']} answered from the cache), wall time {seconds:.0f}s")
    print(f"report: {report}")
    print("Every model answer is cached: running `backprose demo` again replays this run in seconds.")
    return 0
