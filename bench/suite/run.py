"""The suite's one command: fit every system on every task and seed, score each final program once on test.

Cells (task, seed, system) run one at a time. Each system's fit goes through the counting proxy under its
own label, with the test split sealed (any read of it fails the cell); then the suite scores the returned
`Final` once on test and once on validation with `program.score`, under a second label outside the
training budgets. Each finished cell is appended to `results.jsonl` at once (flushed and synced), so a
kill loses no finished cell and running the same command again resumes with the cells not yet done.
A cell whose fit raised is recorded as failed (and tried again by a rerun); a failure while scoring
stops the run, since it means the model server is gone.

Sizing. Measured (2026-12-01, embedded 0.5B model, 2 cores shared with other work, load 5-10): one
program call at the initial instruction took date_understanding 18-26 s (96 reply tokens: it always fills
max_tokens), navigate 7-12 s (28-57 tokens; 49 on average over 40 calls), logical_deduction 24-33 s
(96), word_sorting 13-25 s (42-96), humaneval 35-75 s (77-212 of its 384); four at a time, ~11 s each.
The quick run below (baseline and backprose) took 13 minutes on that machine: 40 scoring calls in 423 s,
and backprose's 10 uncached program calls and one optimizer call (1025 prompt, 70 reply tokens) in 262 s.
An idle machine runs ~12 tokens/s (0.5B) and ~4 tokens/s (1.5B). The plans assume an idle machine and
four program calls decoded together (about twice the throughput of one at a time), so a program call
costs t_p = navigate 2.3 s, word_sorting 2.9 s, date_understanding and logical_deduction 4.3 s,
humaneval 6.4 s, and an optimizer call t_o = 45 s.

A trained cell costs (P - V + T) * t_p + O * t_o: P program and O optimizer calls of budget and T test
items; of P, the V = 20 validation calls on the starting program are cache hits (the baseline, run first,
scored exactly those requests), and the final program's validation score is served from the cache when
the system validated it in training. The baseline costs (T + V) * t_p. With 5 trained systems and the
baseline, per task and seed:
- QUICK (navigate, 1 seed, T = 20, P = 50, O = 2): 5 * (50 * 2.3 + 90) + 40 * 2.3 = 1117 s, 19 minutes.
  P = 50 is about the least that lets a change be accepted at all: 20 validation calls at the start, a
  minibatch and its race, then 20 more to validate the change.
- FULL (T = 50, P = 60, O = 4, 1 seed): date_understanding and logical_deduction 5 * (90 * 4.3 + 180) +
  70 * 4.3 = 3136 s each, navigate 5 * (90 * 2.3 + 180) + 70 * 2.3 = 2096 s: 8368 s, 2.3 hours.
  word_sorting (2408 s) and humaneval (T = 60: 5 * (100 * 6.4 + 180) + 80 * 6.4 = 4612 s) do not fit
  beside them: run them with `--tasks` into the same `--out` folder (one results file, one table), and
  each further seed costs as much again. word_sorting gave way because the 0.5B model scored 0 on its
  validation split with every instruction and worked example tried (it drops and merges words), so
  there it cannot tell systems apart; on date_understanding and logical_deduction the instruction and the
  worked examples move its validation score (0.00 to 0.65 and 0.19 to 0.38 in the trials made).
On a machine shared with other work, expect three to five times these times (the measured rates above).
Measured again (2026-12-02, idle, baseline, backprose and BootstrapFewShot): humaneval at one seed took 30
minutes (the baseline's 80 calls 10.5 minutes: 7.9 s a call, four decoded together); navigate at three seeds
18 minutes; date_understanding and logical_deduction at three seeds 8 minutes, every program request
answered from the cache of an earlier run of the same code (only the optimizer calls were made).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib
import json
import logging
import os
import shlex
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backprose.errors import BackproseError
from bench.cells import commit
from bench.suite import program, stats
from bench.suite.proxy import Proxy, Route
from bench.suite.systems.base import SYSTEMS, Env
from bench.suite.tasks import TASKS, Task, load_task

log = logging.getLogger("backprose.bench")

OWN_SYSTEMS = ("bench.suite.systems.baseline", "bench.suite.systems.backprose_system")
PEER_SYSTEMS = ("bench.suite.systems.dspy_peers", "bench.suite.systems.textgrad_peer",
                "bench.suite.systems.trace_peer")
LOCAL_MODELS = {program.PROGRAM_MODEL: "qwen2.5-coder-0.5b-instruct-q4",
                program.OPTIMIZER_MODEL: "qwen2.5-coder-1.5b-instruct"}  # suite name -> embedded model


@dataclass(frozen=True)
class Plan:
    """What a run covers: its tasks, seeds, test items per task, and the training budgets."""

    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    test: dict[str, int]
    program_calls: int
    optimizer_calls: int
    systems: tuple[str, ...] = field(default=())  # empty: every system that imports


QUICK = Plan(tasks=("navigate",), seeds=(0,), test={"navigate": 20}, program_calls=50, optimizer_calls=2)
FULL = Plan(tasks=("date_understanding", "logical_deduction", "navigate"), seeds=(0,),
            test={t: 50 for t in TASKS} | {"humaneval": 60}, program_calls=60, optimizer_calls=4)


class SealedTestSplitRead(BackproseError, LookupError):
    """A system read the test split while training; the suite uses it only to score the final program."""

    def __init__(self, task: str) -> None:
        super().__init__(f"the test split of {task!r} was read during fit; a system may train on task.train and "
                         "decide on task.validation only: remove the read of task.test")


class Sealed(Sequence[Any]):
    """Stands in for the test split during fit: any look at it raises `SealedTestSplitRead`."""

    def __init__(self, task: str) -> None:
        self.task = task

    def __len__(self) -> int:
        raise SealedTestSplitRead(self.task)

    def __getitem__(self, index: Any) -> Any:
        raise SealedTestSplitRead(self.task)

    def __iter__(self) -> Iterator[Any]:
        raise SealedTestSplitRead(self.task)

    def __repr__(self) -> str:
        return f"Sealed({self.task!r} test split)"


def sealed(task: Task) -> Task:
    return dataclasses.replace(task, test=Sealed(task.name))  # type: ignore[arg-type]


def load_systems(wanted: Sequence[str] = ()) -> dict[str, Any]:
    """Every system that imports (peers missing or failing to import are logged and left out)."""
    for name in OWN_SYSTEMS:
        importlib.import_module(name)
    for name in PEER_SYSTEMS:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            log.warning("peer systems in %s are left out: %s", name, exc)
        except Exception as exc:  # a broken peer module must not stop the others
            log.warning("peer systems in %s are left out: it failed to import (%s: %s)", name, type(exc).__name__,
                        exc)
    unknown = [w for w in wanted if w not in SYSTEMS]
    if unknown:
        raise SystemExit(f"unknown system(s) {', '.join(unknown)}; available: {', '.join(SYSTEMS)}")
    return {name: SYSTEMS[name] for name in (wanted or SYSTEMS)}


def run_cell(name: str, factory: Any, task: Task, proxy: Proxy, plan: Plan, out: Path, version: str) -> dict[str, Any]:
    """Fit one system on one task and seed, then score its final program once on test and on validation."""
    label = f"{name}.{task.name}.{task.seed}"
    env = Env(base_url=proxy.url(label + ".fit"), program_calls=plan.program_calls,
              optimizer_calls=plan.optimizer_calls, work_dir=out / "work" / label)
    env.work_dir.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
    cell: dict[str, Any] = {"task": task.name, "seed": task.seed, "system": name, "commit": version,
                            "budgets": {"program_calls": plan.program_calls, "optimizer_calls": plan.optimizer_calls}}
    start = time.monotonic()
    try:
        final = factory().fit(sealed(task), env, task.seed)
    except Exception as exc:
        log.warning("%s failed during fit: %s: %s", label, type(exc).__name__, exc)
        return {**cell, "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=-6), "fit": _counts(proxy, label + ".fit"),
                "seconds": {"fit": time.monotonic() - start}, "over_budget": False}
    fitted = time.monotonic()
    fit = _counts(proxy, label + ".fit")
    import openai

    client = openai.OpenAI(base_url=proxy.url(label + ".score"), api_key=env.api_key, timeout=1800.0)
    test = program.score(final, task.test, task, client)
    validation = program.score(final, task.validation, task, client)
    client.close()
    over = (fit.get("program", {}).get("calls", 0) > plan.program_calls
            or fit.get("optimizer", {}).get("calls", 0) > plan.optimizer_calls)
    return {**cell, "status": "done", "final": final.as_dict(),
            "test_accuracy": sum(i.score for i in test) / max(len(test), 1),
            "validation_accuracy": sum(i.score for i in validation) / max(len(validation), 1),
            "test": [i.as_dict() for i in test], "validation": [i.as_dict() for i in validation],
            "fit": fit, "score": _counts(proxy, label + ".score"), "over_budget": over,
            "seconds": {"fit": fitted - start, "score": time.monotonic() - fitted},
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def _counts(proxy: Proxy, label: str) -> dict[str, dict[str, Any]]:
    return {role: c.as_dict() for role, c in proxy.counts(label).items()}


def append(path: Path, record: dict[str, Any]) -> None:
    """One line per cell, on disk before the next cell starts (after a line cut by a kill, on a line of its own)."""
    cut = path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    with path.open("a", encoding="utf-8") as fh:
        fh.write(("\n" if cut else "") + json.dumps(record) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def start_config(out: Path, plan: Plan, command: str, version: str) -> dict[str, Any]:
    """config.json of the run folder: settings every cell shares. A resume with other settings is refused,
    since its cells could not share one table."""
    settings = {"budgets": {"program_calls": plan.program_calls, "optimizer_calls": plan.optimizer_calls},
                "temperatures": {"program": program.PROGRAM_TEMPERATURE, "optimizer": program.OPTIMIZER_TEMPERATURE},
                "program_model": program.PROGRAM_MODEL, "optimizer_model": program.OPTIMIZER_MODEL}
    path = out / "config.json"
    config = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    for key, value in settings.items():
        if key in config and config[key] != value:
            raise SystemExit(f"{out} holds a run with {key} {config[key]}, not {value}; its cells and these could "
                             "not share one table: pass --out a new folder, or the same settings to resume it")
    sizes = config.get("test_sizes", {})
    for task in plan.tasks:
        if sizes.get(task, plan.test[task]) != plan.test[task]:
            raise SystemExit(f"{out} scored {task} on {sizes[task]} test items, not {plan.test[task]}: pass --out a "
                             "new folder, or the same --test to resume it")
    config.update(settings)
    config["test_sizes"] = {**sizes, **{t: plan.test[t] for t in plan.tasks}}
    config.setdefault("commands", []).append(command)
    config["command"] = " ; then ".join(dict.fromkeys(config["commands"]))
    config["commit"] = version
    config["date"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return config


class Servers:
    """The upstreams: an external server, or both embedded models started on first need."""

    def __init__(self, base_url: str | None, optimizer_base_url: str | None) -> None:
        self.base_url, self.optimizer_base_url = base_url, optimizer_base_url
        self.local: list[Any] = []

    def routes(self) -> list[Route]:
        temps = {program.PROGRAM_MODEL: ("program", program.PROGRAM_TEMPERATURE),
                 program.OPTIMIZER_MODEL: ("optimizer", program.OPTIMIZER_TEMPERATURE)}
        if self.base_url:
            urls = {program.PROGRAM_MODEL: self.base_url,
                    program.OPTIMIZER_MODEL: self.optimizer_base_url or self.base_url}
            return [Route(m, urls[m], role, t) for m, (role, t) in temps.items()]
        from backprose.llm.local import Local

        routes = []
        for model, (role, t) in temps.items():
            local = Local(LOCAL_MODELS[model], n_parallel=4 if role == "program" else 1)
            self.local.append(local)
            routes.append(Route(model, str(local.base_url), role, t, upstream_model=local.model))
        return routes

    def close(self) -> None:
        for local in self.local:
            local.close()


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.suite", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the short plan (see bench/suite/run.py)")
    ap.add_argument("--tasks", default="", help=f"comma-separated, from {', '.join(TASKS)}")
    ap.add_argument("--systems", default="", help="comma-separated system names (default: every one that imports)")
    ap.add_argument("--seeds", default="", help="comma-separated seeds, e.g. 0,1,2")
    ap.add_argument("--test", type=int, default=None, help="test items per task (a prefix of the full test split)")
    ap.add_argument("--program-calls", type=int, default=None)
    ap.add_argument("--optimizer-calls", type=int, default=None)
    ap.add_argument("--out", default=None, help="run folder (default: suite-runs/quick or suite-runs/full)")
    ap.add_argument("--base-url", default=None, help="an external OpenAI-compatible server serving both models "
                    f"as {program.PROGRAM_MODEL} and {program.OPTIMIZER_MODEL} (default: start both embedded)")
    ap.add_argument("--optimizer-base-url", default=None, help="a second server for the optimizer model")
    return ap.parse_args(argv)


def plan_of(args: argparse.Namespace) -> Plan:
    base = QUICK if args.quick else FULL
    tasks = tuple(filter(None, args.tasks.split(","))) or base.tasks
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise SystemExit(f"unknown task(s) {', '.join(unknown)}; the suite has {', '.join(TASKS)}")
    test = {t: args.test or base.test.get(t) or FULL.test[t] for t in tasks}
    return Plan(tasks, tuple(int(s) for s in filter(None, args.seeds.split(","))) or base.seeds, test,
                args.program_calls or base.program_calls, args.optimizer_calls or base.optimizer_calls,
                tuple(filter(None, args.systems.split(","))))


def execute(plan: Plan, out: Path, systems: dict[str, Any], servers: Any, *, command: str, version: str,
            load: Any = load_task) -> str:
    """Run every cell of `plan` not yet in `out/results.jsonl`; return the table of the whole file.
    `servers` gives the proxy's routes (`routes()`, started only when a cell is left to run) and `close()`."""
    config = start_config(out, plan, command, version)
    results = out / "results.jsonl"
    done = {(c["task"], c["seed"], c["system"]) for c in stats.read_results(results) if c["status"] == "done"}
    todo = [(t, s, n) for t in plan.tasks for s in plan.seeds for n in systems if (t, s, n) not in done]
    log.info("run folder %s: %d cells done, %d to run", out, len(done), len(todo))
    if todo:
        try:
            with Proxy(servers.routes(), cache_path=out / "program_cache.jsonl") as proxy:
                tasks: dict[tuple[str, int], Task] = {}
                for task_name, seed, name in todo:
                    if (task_name, seed) not in tasks:
                        tasks[(task_name, seed)] = load(task_name, seed, test=plan.test[task_name])
                    cell = run_cell(name, systems[name], tasks[(task_name, seed)], proxy, plan, out, version)
                    append(results, cell)
                    log.info("%s %s seed %d: %s", task_name, name, seed,
                             f"test {cell['test_accuracy']:.3f}" if cell["status"] == "done" else cell["error"])
        finally:
            servers.close()
    text = stats.table(stats.read_results(results), config)
    (out / "table.md").write_text(text + "\n", encoding="utf-8")
    return text


def main(argv: Sequence[str] | None = None) -> str:
    """The command line: run the plan, then print the table (also written to table.md in the run folder)."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("backprose").setLevel(logging.INFO)  # the suite's and backprose's own lines, not httpx's
    args = parse(argv)
    plan = plan_of(args)
    out = Path(args.out or ("suite-runs/quick" if args.quick else "suite-runs/full"))
    command = shlex.join(["python", "-m", "bench.suite", *(sys.argv[1:] if argv is None else argv)])
    version = commit(Path(__file__).resolve().parents[2], out)
    text = execute(plan, out, load_systems(plan.systems), Servers(args.base_url, args.optimizer_base_url),
                   command=command, version=version)
    print(text, flush=True)
    return text
