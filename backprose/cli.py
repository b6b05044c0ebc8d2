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
from typing import Any, NoReturn

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


def _held_out(config: dict[str, Any], data: Any) -> Any:
    """The `--test` records, refused unless they are really held out: another file, no input also in --data."""
    from backprose.data import load
    from backprose.errors import InvalidOption
    from backprose.llm.cache import canonical_json

    if config.get("test") is None:
        return None
    path = config["test"]
    if Path(path) == Path(config["data"]):
        raise InvalidOption("--test", path, "it is the --data file, which trains and validates the program, so its "
                            "score would not be held out", "give --test a file of other records")
    test = load(path, require_target=config["metric"] != "llm_judge")
    seen = {canonical_json(ex.input) for ex in data}
    shared = [ex.id for ex in test if canonical_json(ex.input) in seen]
    if shared:
        raise InvalidOption("--test", path, f"{len(shared)} of its {len(test)} records have an input that is also "
                            f"in --data (the first: id {shared[0]!r})",
                            "remove those records from one of the two files, so the test score is held out")
    return test


def _build(config: dict[str, Any], run_dir: Path, *, fresh: bool) -> Any:
    """Check everything the user named (metric, data, test, program, run folder) before starting a model."""
    from backprose.data import load, split
    from backprose.train import Budget, Trainer
    from backprose.train.guides import metric
    from backprose.train.loading import load_program, make_optimizer
    from backprose.train.strategies import make_strategy

    guide = metric(config["metric"])  # check the name before anything slow
    data = load(config["data"], require_target=config["metric"] != "llm_judge")
    train, val = split(data, (1 - config["val_fraction"], config["val_fraction"]), seed=config["seed"])
    val = val[: config.get("val_limit") or len(val)]
    if not len(train) or not len(val):
        from backprose.errors import DatasetError

        raise DatasetError(config["data"], 0, f"{len(data)} records are too few to split into train and "
                           "validation", "add records or change --val-fraction")
    test = _held_out(config, data)
    program = load_program(config["program"])
    make_optimizer(config["optimizer"], [], check_only=True)
    strategy = make_strategy(config["strategy"], **({"n": config["candidates"]} if config.get("candidates") else {}))
    if fresh:
        _prepare_folder(run_dir, config)
    llm = _client()
    optimizer_llm = _client(config["optimizer_model"]) if config.get("optimizer_model") else llm
    optimizer = make_optimizer(config["optimizer"], program.parameters(), llm=optimizer_llm,
                               **config.get("optimizer_options", {}))
    return llm, test, Trainer(program, train, val, guide, optimizer, strategy=strategy, steps=config["steps"],
                        batch_size=config["batch_size"], seed=config["seed"], run_dir=run_dir, progress=True,
                        llm=llm, concurrency=config.get("concurrency"), config=config,
                        budget=Budget(steps=config["steps"], calls=config.get("max_calls")))


def _prepare_folder(run_dir: Path, config: dict[str, Any]) -> None:
    """Create the run folder and write `config.json` at once, so `backprose resume` works from this moment."""
    from backprose.errors import CheckpointError
    from backprose.module import atomic_write_json
    from backprose.train.checkpoint import CHECKPOINT

    if run_dir.exists() and not run_dir.is_dir():
        raise CheckpointError(str(run_dir), "it is a file, not a folder", "pass --out a new folder name",
                              action="write the run to")
    if (run_dir / CHECKPOINT).exists():
        raise CheckpointError(str(run_dir), "it already holds a run",
                              f"resume it (`backprose resume {run_dir}`) or pass --out a new folder")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(run_dir / "config.json", config)
    except OSError as exc:
        raise CheckpointError(str(run_dir), exc.strerror or str(exc), "pass --out a folder you can create and "
                              "write to", action="write the run to") from None


def _run(config: dict[str, Any], run_dir: Path, resume: bool) -> int:
    from backprose.llm.config import configure
    from backprose.report import write_report

    llm, test, trainer = _build(config, run_dir, fresh=not resume)
    with configure(llm):
        result = trainer.fit(resume=resume)
        scored = trainer.evaluate(test) if test is not None else None  # once, after training; decides nothing
    report = write_report(run_dir)
    print(f"validation score: {result.initial_val:.3f} -> {result.final_val:.3f} ({result.stopped})")
    if scored is not None:
        print(f"test score: {scored.before:.3f} -> {scored.after:.3f} ({len(scored.examples)} held-out examples, "
              f"{scored.spent['calls']} model calls; never used for any decision)")
    print(f"model calls: {result.spent['calls']} (cache hits {result.spent['cache_hits']}), "
          f"tokens: {result.spent['tokens']}, cost: ${result.spent['cost']:.4f}")
    print(f"run folder: {run_dir}\nreport: {report}")
    return 0


# the options a run needs, as `config.json` holds them, with the command-line flag that sets each
_CONFIG: dict[str, tuple[str, tuple[type, ...]]] = {
    "program": ("PROGRAM", (str,)), "data": ("--data", (str,)), "metric": ("--metric", (str,)),
    "optimizer": ("--optimizer", (str,)), "strategy": ("--strategy", (str,)), "steps": ("--steps", (int,)),
    "batch_size": ("--batch-size", (int,)), "val_fraction": ("--val-fraction", (int, float)),
    "seed": ("--seed", (int,))}


def check_config(config: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Refuse a run configuration that cannot work, naming the option and the fix (`where`: its file)."""
    from backprose.errors import InvalidOption

    def refuse(key: str, problem: str, fix: str) -> None:
        flag = _CONFIG.get(key, (f"--{key.replace('_', '-')}",))[0]
        raise InvalidOption(flag, config.get(key), problem + where, fix)

    for key, (_, types) in _CONFIG.items():
        if not isinstance(config.get(key), types) or isinstance(config.get(key), bool):
            refuse(key, "it is missing or of the wrong type", f"give {_CONFIG[key][0]} a value")
    for key, least, fix in (("steps", 0, "give the number of steps to run (0 only scores the program)"),
                            ("batch_size", 1, "take at least one example per step"),
                            ("concurrency", 1, "run at least one example at a time, or leave it out"),
                            ("max_calls", 1, "allow at least one model call, or leave it out for no limit")):
        value = config.get(key)
        if (value is not None or key in _CONFIG) and (isinstance(value, bool) or not isinstance(value, int)
                                                      or value < least):
            refuse(key, f"it must be a whole number of {least} or more", fix)
    if config.get("test") is not None and not isinstance(config["test"], str):
        refuse("test", "it must be the path of a data file", "give --test a .jsonl or .csv file, or leave it out")
    fraction = config["val_fraction"]
    if not 0 < fraction < 1:
        refuse("val_fraction", "the share of records kept for validation must be between 0 and 1",
               "give a fraction such as 0.3 (30% validation, 70% training)")
    return config


def cmd_optimize(args: argparse.Namespace) -> int:
    run_dir = Path(args.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")).resolve()
    data = Path(args.data).expanduser().resolve()
    where, _, name = args.program.rpartition(":")
    program = f"{Path(where).resolve()}:{name}" if where and Path(where).exists() else args.program
    test = str(Path(args.test).expanduser().resolve()) if args.test is not None else None
    config = {"program": program, "data": str(data), "test": test, "metric": args.metric, "optimizer": args.optimizer,
              "optimizer_model": args.optimizer_model, "strategy": args.strategy, "steps": args.steps,
              "batch_size": args.batch_size, "val_fraction": args.val_fraction, "seed": args.seed,
              "concurrency": args.concurrency, "max_calls": args.max_calls}
    return _run(check_config(config), run_dir, resume=False)


def cmd_resume(args: argparse.Namespace) -> int:
    """Continue a run from wherever it stopped: from its checkpoint, or from the start if it saved none."""
    from backprose.errors import CheckpointError
    from backprose.train.checkpoint import CHECKPOINT, load_checkpoint
    from backprose.train.trainer import read_config

    run_dir = Path(args.run_dir).resolve()
    if not run_dir.is_dir():
        raise CheckpointError(str(run_dir), "the folder does not exist", "pass the --out folder of a run")
    config = read_config(run_dir)
    if not config:
        raise CheckpointError(str(run_dir), "its config.json names no program: the run was started from Python",
                              "resume it from Python with Trainer(..., run_dir=...).fit(resume=True)")
    if (run_dir / CHECKPOINT).exists():
        load_checkpoint(run_dir)  # a clear error for a damaged checkpoint, before any model starts
    return _run(check_config(config, f" (in {run_dir / 'config.json'})"), run_dir, resume=True)


def cmd_report(args: argparse.Namespace) -> int:
    from backprose.report import write_report

    print(write_report(args.run_dir, args.output))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from backprose.demo import run_demo

    return run_demo(out=args.out, steps=args.steps)


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line like every other mistake (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"backprose: error: {message}. Fix: see `{self.prog} --help`.\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="backprose", description="Optimize LLM programs with textual feedback.")
    sub = p.add_subparsers(dest="command", required=True)
    o = sub.add_parser("optimize", help="optimize a program's parameters on a dataset")
    o.add_argument("program", help="path.py:object naming a bp.Module (or a class/function making one)")
    o.add_argument("--data", required=True, help="a .jsonl or .csv file with 'input' and 'target' fields")
    o.add_argument("--test", default=None, metavar="FILE",
                   help="held-out records (.jsonl or .csv, not in --data) scored once after training, before and "
                        "after; never used to decide anything")
    o.add_argument("--metric", required=True, help="exact_match, normalized_match, numeric, regex, llm_judge, ...")
    o.add_argument("--optimizer", default="optoprime",
                   help="optoprime (default), reflect, textgrad, opro or recipe (bp.train's default: worked "
                        "examples and exploring rewrites; use it with --strategy pareto)")
    o.add_argument("--optimizer-model", default=None,
                   help="a stronger model for the optimizer: a model name on the configured endpoint, or a "
                        "local model name or .gguf path (default: the program's model)")
    o.add_argument("--strategy", default="best_of_n", help="best_of_n (default), beam, ucb or pareto")
    o.add_argument("--steps", type=int, default=5)
    o.add_argument("--batch-size", type=int, default=4)
    o.add_argument("--val-fraction", type=float, default=0.5)
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--concurrency", type=int, default=None, help="examples run at once (default: the model's limit)")
    o.add_argument("--max-calls", type=int, default=None,
                   help="stop after this many model calls, counted exactly across kills and resumes")
    o.add_argument("--out", help="run folder (default runs/TIMESTAMP)")
    o.set_defaults(fn=cmd_optimize)
    r = sub.add_parser("resume", help="continue a stopped or killed run")
    r.add_argument("run_dir")
    r.set_defaults(fn=cmd_resume)
    h = sub.add_parser("report", help="write the HTML report of a run")
    h.add_argument("run_dir")
    h.add_argument("-o", "--output", default=None, help="where to write it (default RUN_DIR/report.html)")
    h.set_defaults(fn=cmd_report)
    d = sub.add_parser("demo", help="train a real program (prompt and worked examples) on the embedded local models")
    d.add_argument("--out", default=None)
    d.add_argument("--steps", type=int, default=None)
    d.set_defaults(fn=cmd_demo)
    return p


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except BackproseError as err:
        print(f"backprose: error: {_one_line(str(err))}", file=sys.stderr)
        return 2
    except OSError as err:
        if err.filename is None:
            raise
        print(f"backprose: error: cannot use {err.filename}: {err.strerror}. Fix: check the path, its "
              "permissions and the free disk space.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nbackprose: interrupted; continue with `backprose resume RUN_DIR`", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
