"""A run for the kill-and-resume tests: a scripted model behind both program and optimizer.

Usage: python resumable_run.py RUN_DIR CACHE_DIR CALLS_LOG [--resume] [--no-cache] [--kill-at WHAT:N]
[--max-calls N] [--concurrency N]. Every real model call appends its prompt to CALLS_LOG, so a test can
count calls across kills. `--kill-at EVENT:N` SIGKILLs this process right after it logs its Nth EVENT
event; `--kill-at call:N` SIGKILLs it inside its Nth real model call, after the model answered (a paid
call whose answer is lost). Both are exact moments, never a race against a timer.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import time
from collections import Counter

import backprose as bp
from backprose.llm import ResponseCache, Scripted
from backprose.train import Budget, ScriptedOptimizer, Trainer

ap = argparse.ArgumentParser()
ap.add_argument("run_dir")
ap.add_argument("cache_dir")
ap.add_argument("calls_log")
ap.add_argument("--resume", action="store_true")
ap.add_argument("--no-cache", action="store_true")
ap.add_argument("--kill-at", default="")
ap.add_argument("--max-calls", type=int, default=None)
ap.add_argument("--concurrency", type=int, default=2)
ap.add_argument("--delay", type=float, default=0.05)
args = ap.parse_args()
kill_what, _, kill_n = args.kill_at.partition(":")
seen: Counter[str] = Counter()


def maybe_die(what: str) -> None:
    seen[what] += 1
    if what == kill_what and seen[what] == int(kill_n or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def respond(messages):
    prompt = messages[-1]["content"]
    time.sleep(args.delay)  # a call killed before this point never finished, so asking again is no repeat
    with open(args.calls_log, "a", encoding="utf-8") as fh:
        fh.write(prompt.replace("\n", " ") + "\n")
    maybe_die("call")
    found = re.match(r"multiply (-?\d+) by (-?\d+)", prompt)
    if found:
        return str(int(found.group(1)) * int(found.group(2)))
    return str(int(re.search(r"proposal (\d+)", prompt).group(1)) + 2)


LLM = Scripted(respond, cache=None if args.no_cache else ResponseCache(args.cache_dir))


@bp.bundle()
def ask(x, k):
    """Ask the model to multiply."""
    return LLM.complete(f"multiply {x} by {k}").text


class Program(bp.Module):
    def __init__(self):
        self.k = bp.param(1, name="k", description="multiplier")

    def __call__(self, x):
        return ask(x, self.k)


def propose(opt, n):
    feedback = " | ".join(sorted(fb.text for p in opt.parameters for fb in p.feedback))
    return [{"k": int(LLM.complete(f"proposal {opt.position + i} for k; feedback: {feedback}").text)}
            for i in range(n)]


program = Program()
optimizer = ScriptedOptimizer(program.parameters(), propose)
train = [(i, 3 * i) for i in range(1, 7)]
val = [(i, 3 * i) for i in range(10, 14)]
trainer = Trainer(program, train, val, "numeric", optimizer, steps=4, batch_size=3, seed=7, run_dir=args.run_dir,
                  concurrency=args.concurrency, budget=Budget(steps=4, calls=args.max_calls))
emit = trainer.events.emit


def emit_then_maybe_die(event, **fields):
    record = emit(event, **fields)
    maybe_die(event)
    return record


trainer.events.emit = emit_then_maybe_die
result = trainer.fit(resume=args.resume)
print("final", program.k.value, result.final_val, "calls", result.spent["calls"])
