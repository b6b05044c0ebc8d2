"""The xllamacpp launcher: flags map onto `CommonParams`, and a changed xllamacpp fails with the fix."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from backprose.llm import xllama_server
from backprose.llm.local_server import XLLAMACPP, ServerConfig

pytest.importorskip("xllamacpp")


def test_flags_set_the_server_params_with_context_per_slot() -> None:
    args, extra = xllama_server.parse(["--model", "m.gguf", "--model_alias", "m", "--port", "8123", "--n_ctx",
                                       "2048", "--n_threads", "3", "--n_parallel", "4", "--chat_format", "chatml",
                                       "--n_batch", "64"])  # fmt: skip
    params = xllama_server.build(args, extra)
    assert params.model.path == "m.gguf" and params.port == 8123 and params.hostnames == ["127.0.0.1"]
    assert (params.n_parallel, params.n_ctx, params.cont_batching) == (4, 8192, True)
    assert params.cpuparams.n_threads == params.cpuparams_batch.n_threads == 3
    assert params.model_alias == {"m"} and params.chat_template == "chatml" and params.n_batch == 64


def test_the_config_command_parses_back_to_the_same_settings(tmp_path) -> None:
    config = ServerConfig(tmp_path / "m.gguf", "m", n_ctx=1024, n_threads=2, chat_format="chatml", n_parallel=3,
                          backend=XLLAMACPP)  # fmt: skip
    cmd = config.command(8124)
    assert cmd[:3] == [sys.executable, "-m", "backprose.llm.xllama_server"]
    args, extra = xllama_server.parse(cmd[3:])
    assert extra == []
    assert (args.model, args.port, args.n_ctx, args.n_threads, args.n_parallel, args.chat_format) == (
        str(tmp_path / "m.gguf"), 8124, 1024, 2, 3, "chatml")


def test_renamed_params_fail_naming_the_pinned_version() -> None:
    renamed = SimpleNamespace(**{name: None for name in xllama_server.REQUIRED_FIELDS if name != "n_parallel"})
    with pytest.raises(SystemExit, match=r"n_parallel.*pip install 'xllamacpp==2026\.10\.11549'"):
        xllama_server.check_fields(renamed, "2099.1")


@pytest.mark.parametrize("extra, cause", [(["--no_such_field", "1"], "no field 'no_such_field'"),
                                          (["--n_batch"], "--FIELD VALUE pairs")])  # fmt: skip
def test_bad_server_arguments_are_refused(extra: list[str], cause: str) -> None:
    args, rest = xllama_server.parse(["--model", "m.gguf", "--port", "1", *extra])
    with pytest.raises(SystemExit, match=cause):
        xllama_server.build(args, rest)
