"""llama.cpp's own HTTP server, in-process through the `xllamacpp` wheel, run as the embedded model's child.

    python -m backprose.llm.xllama_server --model GGUF --port N [--n_parallel 4] [--n_threads T] ...

Why this server: it decodes the requests of its `n_parallel` slots together (continuous batching), stops
generating when a client disconnects, takes `response_format` json_schema, and ships as a prebuilt wheel.
Extra `--FIELD VALUE` pairs set fields of `xllamacpp.CommonParams` (e.g. `--n_batch 64`). It runs until
SIGTERM or SIGINT. `n_ctx` is per slot: the server gets `n_ctx * n_parallel` in all.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

# The fields this module sets; a new xllamacpp that renames one must fail here, loudly, not misconfigure.
REQUIRED_FIELDS = ("model", "port", "hostnames", "n_parallel", "n_ctx", "cpuparams", "cpuparams_batch",
                   "model_alias", "chat_template", "cont_batching")  # fmt: skip
PINNED = "2026.10.11549"


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m backprose.llm.xllama_server", description=__doc__)
    parser.add_argument("--model", required=True, help="path of the GGUF file")
    parser.add_argument("--model_alias", default="local", help="the model name the server answers to")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--n_ctx", type=int, default=4096, help="context tokens per slot")
    parser.add_argument("--n_threads", type=int, default=None)
    parser.add_argument("--n_parallel", type=int, default=4, help="slots decoded together")
    parser.add_argument("--chat_format", default=None, help="a llama.cpp template name (chatml, ...)")
    return parser.parse_known_args(argv)


def check_fields(params: Any, version: str) -> None:
    missing = [name for name in REQUIRED_FIELDS if not hasattr(params, name)]
    if missing:
        raise SystemExit(
            f"xllamacpp {version} has no CommonParams field(s) {', '.join(missing)}; backprose was written "
            f"for xllamacpp=={PINNED}. Fix: pip install 'xllamacpp=={PINNED}'"
        )


def build(args: argparse.Namespace, extra: list[str]) -> Any:
    import xllamacpp

    params = xllamacpp.CommonParams()
    check_fields(params, getattr(xllamacpp, "__version__", "?"))
    params.model.path = args.model
    params.port = args.port
    params.hostnames = [args.host]
    params.n_parallel = args.n_parallel
    params.n_ctx = args.n_ctx * args.n_parallel
    params.cont_batching = True
    params.model_alias = {args.model_alias}
    if args.n_threads:
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = args.n_threads
    if args.chat_format:
        params.chat_template = args.chat_format
    for name, value in _pairs(extra):
        if not hasattr(params, name):
            raise SystemExit(f"xllamacpp.CommonParams has no field {name!r}; fix or drop the server argument "
                             f"--{name}")  # fmt: skip
        current = getattr(params, name)
        setattr(params, name, type(current)(value) if not isinstance(current, bool) else value == "true")
    return params


def _pairs(extra: list[str]) -> list[tuple[str, str]]:
    if len(extra) % 2 or any(not flag.startswith("--") for flag in extra[::2]):
        raise SystemExit(f"server arguments must be --FIELD VALUE pairs, got {extra}")
    return [(flag[2:].replace("-", "_"), value) for flag, value in zip(extra[::2], extra[1::2], strict=True)]


def main(argv: list[str]) -> int:
    args, extra = parse(argv)
    params = build(args, extra)
    import xllamacpp

    # Signals are blocked before the server's threads start, so they inherit the mask and only sigwait
    # below receives SIGTERM/SIGINT.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    server = xllamacpp.Server(params)  # noqa: F841 (it serves while referenced)
    print(f"xllama_server: serving {args.model_alias} on {args.host}:{args.port} with {args.n_parallel} slots",
          flush=True)  # fmt: skip
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    print("xllama_server: stopping", flush=True)
    os._exit(0)  # the process ends here: no teardown of the server's threads to wait for


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
