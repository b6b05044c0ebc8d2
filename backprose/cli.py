"""The `backprose` command: optimize, resume, report and demo.

Every mistake a user can make (bad path, missing object, bad data, unknown metric, no model) prints one
message naming the fix and exits with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from backprose.errors import BackproseError


def _client(model: str | None = None) -> Any:
    """The model the run uses, with the response cache on, so no paid-for call is ever lost.

    `model` overrides the default: a model name on the configured endpoint, or else a local model name or
    GGUF path (how a run gives its optimizer a stronger model than its program).
    """
    from backprose.llm.config import ENV_VARS

    if any(os.environ.get(name) for name in ENV_VARS):
        from backprose.llm.openai_client import OpenAI

        return OpenAI(model=model or os.environ.get("BACKPROSE_MODEL"),
                      base_url=os.environ.get("BACKPROSE_BASE_URL"), api_key=os.environ.get("OPENAI_API_KEY"),
                      cache=True)
    try:
        from backprose.llm.local import Local
    except ImportError as err:
        from backprose.errors import LLMNotConfigured

        raise LLMNotConfigured(f"importing it failed: {err}") from None
    return Local(model, cache=True)


def _build(config: dict[str, Any], run_dir: Path) -> Any:
    """Check everything the user named (metric, data, program) before starting a model."""
    from backprose.data import load, split
    from backprose.train import Trainer
    from backprose.train.guides import metric
    from backprose.train.loading import load_program, make_optimizer
    from backprose.train.strategies import make_strategy

    guide = metric(config["metric"])  # check the name before anything slow
    data = load(config["data"])
    train, val = split(data, (1 - config["val_fraction"], config["val_fraction"]), seed=config["seed"])
    val = val[: config.get("val_limit") or len(val)]
    if not len(train) or not len(val):
        from backprose.errors import DatasetError

        raise DatasetError(config["data"], 0, f"{len(data)} records are too few to split into train and "
                           "validation", "add records or change --val-fraction")
    program = load_program(config["program"])
    make_optimizer(config["optimizer"], [], check_only=True)
    llm = _client()
    optimizer_llm = _client(config["optimizer_model"]) if config.get("optimizer_model") else llm
    optimizer = make_optimizer(config["optimizer"], program.parameters(), llm=optimizer_llm,
                               **config.get("optimizer_options", {}))
    strategy = make_strategy(config["strategy"], **({"n": config["candidates"]} if config.get("candidates") else {}))
    return llm, Trainer(program, train, val, guide, optimizer, strategy=strategy, steps=config["steps"],
                   batch_size=config["batch_size"], seed=config["seed"], run_dir=run_dir, progress=True,
                   llm=llm, concurrency=config.get("concurrency"), config=config)


def _run(config: dict[str, Any], run_dir: Path, resume: bool) -> int:
    from backprose.llm.config import configure
    from backprose.report import write_report

    llm, trainer = _build(config, run_dir)
    with configure(llm):
        result = trainer.fit(resume=resume)
    report = write_report(run_dir)
    print(f"validation score: {result.initial_val:.3f} -> {result.final_val:.3f} ({result.stopped})")
    print(f"model calls: {result.spent['calls']} (cache hits {result.spent['cache_hits']}), "
          f"tokens: {result.spent['tokens']}, cost: ${result.spent['cost']:.4f}")
    print(f"run folder: {run_dir}\nreport: {report}")
    return 0


def cmd_optimize(args: argparse.Namespace) -> int:
    run_dir = Path(args.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")).resolve()
    data = Path(args.data).expanduser().resolve()
    where, _, name = args.program.rpartition(":")
    program = f"{Path(where).resolve()}:{name}" if where and Path(where).exists() else args.program
    config = {"program": program, "data": str(data), "metric": args.metric, "optimizer": args.optimizer,
              "optimizer_model": args.optimizer_model, "strategy": args.strategy, "steps": args.steps,
              "batch_size": args.batch_size, "val_fraction": args.val_fraction, "seed": args.seed,
              "concurrency": args.concurrency}
    return _run(config, run_dir, resume=False)


def cmd_resume(args: argparse.Namespace) -> int:
    from backprose.train.checkpoint import load_checkpoint
    from backprose.train.trainer import read_config

    run_dir = Path(args.run_dir).resolve()
    load_checkpoint(run_dir)  # a clear error for a folder that is not a run
    return _run(read_config(run_dir), run_dir, resume=True)


def cmd_report(args: argparse.Namespace) -> int:
    from backprose.report import write_report

    print(write_report(args.run_dir, args.output))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from backprose.demo import run_demo

    return run_demo(out=args.out, steps=args.steps)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="backprose", description="Optimize LLM programs with textual feedback.")
    sub = p.add_subparsers(dest="command", required=True)
    o = sub.add_parser("optimize", help="optimize a program's parameters on a dataset")
    o.add_argument("program", help="path.py:object naming a bp.Module (or a class/function making one)")
    o.add_argument("--data", required=True, help="a .jsonl or .csv file with 'input' and 'target' fields")
    o.add_argument("--metric", required=True, help="exact_match, normalized_match, numeric, regex, llm_judge, ...")
    o.add_argument("--optimizer", default="optoprime", help="optoprime (default), reflect, textgrad or opro")
    o.add_argument("--optimizer-model", default=None,
                   help="a stronger model for the optimizer: a model name on the configured endpoint, or a "
                        "local model name or .gguf path (default: the program's model)")
    o.add_argument("--strategy", default="best_of_n", help="best_of_n (default), beam, ucb or pareto")
    o.add_argument("--steps", type=int, default=5)
    o.add_argument("--batch-size", type=int, default=4)
    o.add_argument("--val-fraction", type=float, default=0.5)
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--concurrency", type=int, default=None)
    o.add_argument("--out", help="run folder (default runs/TIMESTAMP)")
    o.set_defaults(fn=cmd_optimize)
    r = sub.add_parser("resume", help="continue a stopped or killed run")
    r.add_argument("run_dir")
    r.set_defaults(fn=cmd_resume)
    h = sub.add_parser("report", help="write the HTML report of a run")
    h.add_argument("run_dir")
    h.add_argument("-o", "--output", default=None, help="where to write it (default RUN_DIR/report.html)")
    h.set_defaults(fn=cmd_report)
    d = sub.add_parser("demo", help="optimize a real prompt on the embedded local model")
    d.add_argument("--out", default=None)
    d.add_argument("--steps", type=int, default=None)
    d.set_defaults(fn=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except BackproseError as err:
        print(f"backprose: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nbackprose: interrupted; continue with `backprose resume RUN_DIR`", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
