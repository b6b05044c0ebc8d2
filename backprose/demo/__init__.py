"""`backprose demo`: train a real program offline on the embedded local models, in minutes on 2 cores.

The task is answer-format compliance on arithmetic word problems: the small model usually computes the right
number but wraps it in a sentence, which the strict `numeric` metric scores 0. It trains with `bp.train`'s
default recipe: worked examples from the training set, and rewrites of the instructions from the metric's
feedback; validation-gated acceptance keeps only real gains. A separate file of held-out problems
(`arithmetic_test.jsonl`) is scored once before and once after training and never used for any decision, so
the test score says whether the gain generalizes. The program runs on the 0.5B model; the optimizer uses the
1.5B one when its packages are installed (`pip install 'backprose[local-large]'`): rewriting a prompt from
feedback is a harder job than following one, and the 0.5B model mostly echoes the old prompt or copies an
answer into it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("arithmetic.jsonl")
TEST_DATA = Path(__file__).with_name("arithmetic_test.jsonl")
STEPS = 3
VAL_LIMIT = 8
OPTIMIZER_MODEL = "qwen2.5-coder-1.5b-instruct"
OPTIMIZER_OPTIONS = {"max_tokens": 160}  # a new instruction is a sentence or two


def optimizer_model() -> str | None:
    """The stronger local model for the optimizer if its packages are installed, else None (say so)."""
    from backprose.errors import LocalModelUnavailable
    from backprose.llm.model_files import MODELS, chunk_paths

    try:
        chunk_paths(MODELS[OPTIMIZER_MODEL])
    except LocalModelUnavailable:
        print(f"note: the optimizer uses the 0.5B model too; install the {OPTIMIZER_MODEL} model for a stronger "
              "optimizer: pip install 'backprose[local-large]'")
        return None
    return OPTIMIZER_MODEL


def run_demo(out: str | Path | None = None, steps: int | None = None, llm: Any = None,
             optimizer_llm: Any = None) -> int:
    """Run the demo and print before/after validation and test scores, model calls, wall time and the report.

    `llm` runs the program and `optimizer_llm` the optimizer (default: the local models described above).
    """
    from backprose.data import load, split
    from backprose.demo.program import Solver
    from backprose.llm.accounting import track_usage
    from backprose.optimizers.recipe import Recipe
    from backprose.report import write_report
    from backprose.train import Trainer
    from backprose.train.guides import numeric
    from backprose.train.strategies import Pareto

    run_dir = Path(out or Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    train, val = split(load(DATA), (0.5, 0.5), seed=0)
    val, test = val[:VAL_LIMIT], load(TEST_DATA)
    print(f"backprose demo: {len(train)} training, {len(val)} validation and {len(test)} held-out test word problems; "
          "the answer must be the bare number.")
    teacher = None
    if llm is None:  # the embedded models; a caller who passes its own model chooses the optimizer's too
        from backprose.llm.local import Local

        print("starting the embedded local model (Qwen2.5-Coder-0.5B on the CPU)...", flush=True)
        llm = Local(cache=True)
        teacher = optimizer_model() if optimizer_llm is None else None
        if teacher is not None:
            print(f"starting the optimizer's model ({teacher})...", flush=True)
            optimizer_llm = Local(teacher, cache=True)
    optimizer_llm = optimizer_llm or llm
    solver = Solver(llm=llm)
    print(f"starting prompt: {solver.instructions.value!r}")
    config = {"program": "backprose.demo.program:program", "data": str(DATA), "metric": "numeric",
              "optimizer": "recipe", "optimizer_model": teacher,
              "optimizer_options": OPTIMIZER_OPTIONS,
              "strategy": "pareto", "steps": steps or STEPS, "batch_size": 4,
              "val_fraction": 0.5, "val_limit": VAL_LIMIT, "seed": 0,
              "test": str(TEST_DATA)}  # `backprose resume` rebuilds the run from this (and scores the test split)
    optimizer = Recipe(solver.parameters(), llm=optimizer_llm, **config["optimizer_options"])
    models = {"program": llm} if optimizer_llm is llm else {"program": llm, "optimizer": optimizer_llm}
    spent_before = {name: _spent(client) for name, client in models.items()}
    start = time.perf_counter()
    with track_usage() as usage:
        trainer = Trainer(solver, train, val, numeric, optimizer, strategy=Pareto(), steps=steps or STEPS,
                          batch_size=4, seed=0, run_dir=run_dir, progress=True, llm=llm, config=config)
        result = trainer.fit()
        tested = trainer.evaluate(test)  # once, after training: the test split decides nothing
    seconds = time.perf_counter() - start
    report = write_report(run_dir)
    u = usage.as_dict()
    print(f"\nvalidation score: {result.initial_val:.2f} before -> {result.final_val:.2f} after")
    print(test_line(tested))
    print(f"optimized prompt: {solver.instructions.value!r}, with {len(solver.demos.value)} worked examples")
    print(f"model calls: {u['calls']} ({u['cache_hits']} answered from the cache), wall time {seconds:.0f}s")
    for name, client in models.items():  # where the time went: the optimizer's calls run one at a time
        calls, tokens_in, tokens_out, waited = (b - a for a, b in zip(spent_before[name], _spent(client), strict=True))
        print(f"  {name} model: {calls} calls, {tokens_in} prompt and {tokens_out} reply tokens, {waited:.0f}s "
              "waiting on it (summed over concurrent calls)")
    print(f"report: {report}")
    print("Every model answer is cached: running `backprose demo` again replays this run in seconds.")
    return 0


def test_line(tested: Any) -> str:
    return (f"test score:       {tested.before:.2f} before -> {tested.after:.2f} after "
            f"({len(tested.examples)} held-out problems, never used for any decision)")


def _spent(client: Any) -> tuple[int, int, int, float]:
    """A client's own counters (calls, prompt tokens, reply tokens, seconds waiting), zeros if it keeps none."""
    usage = getattr(client, "usage", None)
    if usage is None:
        return 0, 0, 0, 0.0
    d = usage.as_dict()
    return d["calls"], d["prompt_tokens"], d["completion_tokens"], d["call_seconds"]
