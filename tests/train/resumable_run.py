"""A run for the kill-and-resume test: a cached, slow scripted model behind both program and optimizer.

Usage: python resumable_run.py RUN_DIR CACHE_DIR CALLS_LOG [--resume]. Every real model call appends its
prompt to CALLS_LOG, so the test can count calls across a kill.
"""

from __future__ import annotations

import re
import sys
import time

import backprose as bp
from backprose.llm import ResponseCache, Scripted
from backprose.train import ScriptedOptimizer, Trainer

run_dir, cache_dir, calls_log = sys.argv[1:4]


def respond(messages):
    prompt = messages[-1]["content"]
    time.sleep(0.05)  # a call killed before this point never finished, so asking again is no repeat
    with open(calls_log, "a", encoding="utf-8") as fh:
        fh.write(prompt.replace("\n", " ") + "\n")
    found = re.match(r"multiply (-?\d+) by (-?\d+)", prompt)
    if found:
        return str(int(found.group(1)) * int(found.group(2)))
    return str(int(re.search(r"proposal (\d+)", prompt).group(1)) + 2)


LLM = Scripted(respond, cache=ResponseCache(cache_dir))


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
trainer = Trainer(program, train, val, "numeric", optimizer, steps=4, batch_size=3, seed=7, run_dir=run_dir,
                  concurrency=2)
result = trainer.fit(resume="--resume" in sys.argv)
print("final", program.k.value, result.final_val)
