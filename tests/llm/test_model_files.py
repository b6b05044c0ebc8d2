"""Assembly of a model file from chunks: atomic, verified, reused cheaply, safe under concurrency."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprose.errors import LocalModelUnavailable, ModelIntegrityError
from backprose.llm import model_files
from backprose.llm.model_files import MODELS, ModelSpec, assemble, cache_dir, chunk_paths, ensure_model


def make_chunks(directory: Path, parts: list[bytes]) -> list[Path]:
    paths = []
    for i, data in enumerate(parts, 1):
        path = directory / f"part{i:02d}.bin"
        path.write_bytes(data)
        paths.append(path)
    return paths


def spec_for(parts: list[bytes], name: str = "tiny", sha256: str | None = None) -> ModelSpec:
    blob = b"".join(parts)
    return ModelSpec(
        name=name,
        packages=(),
        size=len(blob),
        sha256=sha256 or hashlib.sha256(blob).hexdigest(),
        chat_format="chatml",
        install="pip install tiny-chunks",
    )


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


PARTS = [b"GGUF" + bytes(range(256)) * 10, b"middle" * 500, b"tail"]


def test_assembles_concatenation_with_marker_and_no_temp_files(tmp_path: Path) -> None:
    chunks = make_chunks(tmp_path, PARTS)
    out = tmp_path / "models"
    path = assemble(spec_for(PARTS), out, chunks)
    assert path == out / "tiny.gguf"
    assert path.read_bytes() == b"".join(PARTS)
    assert (out / "tiny.gguf.verified").is_file()
    assert leftovers(out) == []
    assert path.stat().st_mode & 0o777 == 0o644


@settings(max_examples=25, deadline=None)
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=6))
def test_any_chunks_assemble_to_their_concatenation(parts: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        path = assemble(spec_for(parts), directory / "m", make_chunks(directory, parts))
        assert path.read_bytes() == b"".join(parts)


def test_verified_file_is_reused_without_reading_chunks(tmp_path: Path) -> None:
    spec = spec_for(PARTS)
    assemble(spec, tmp_path, make_chunks(tmp_path, PARTS))

    def chunks_must_not_be_needed() -> list[Path]:
        raise AssertionError("chunks were read again although a verified copy exists")

    assert assemble(spec, tmp_path, chunks_must_not_be_needed).read_bytes() == b"".join(PARTS)


def test_wrong_checksum_raises_clear_error_and_leaves_no_file(tmp_path: Path) -> None:
    spec = spec_for(PARTS, sha256="0" * 64)
    out = tmp_path / "models"
    with pytest.raises(ModelIntegrityError) as err:
        assemble(spec, out, make_chunks(tmp_path, PARTS))
    assert "0" * 64 in str(err.value) and "pip install tiny-chunks --force-reinstall" in str(err.value)
    assert not (out / "tiny.gguf").exists()
    assert not (out / "tiny.gguf.verified").exists()
    assert leftovers(out) == []


def test_missing_chunk_bytes_are_caught_by_the_size_check(tmp_path: Path) -> None:
    spec = spec_for(PARTS)
    with pytest.raises(ModelIntegrityError, match="bytes"):
        assemble(spec, tmp_path / "m", make_chunks(tmp_path, PARTS[:-1]))
    assert not (tmp_path / "m" / "tiny.gguf").exists()


def test_unverified_or_tampered_file_is_never_used(tmp_path: Path) -> None:
    spec = spec_for(PARTS)
    out = tmp_path / "models"
    out.mkdir()
    blob = b"".join(PARTS)
    # a file of the right size left by a crash before verification: no marker, wrong bytes
    (out / "tiny.gguf").write_bytes(b"\0" * len(blob))
    assert assemble(spec, out, make_chunks(tmp_path, PARTS)).read_bytes() == blob
    # tampered after verification: the marker no longer matches the file's mtime, so it is re-checked
    (out / "tiny.gguf").write_bytes(b"\1" * len(blob))
    assert assemble(spec, out, make_chunks(tmp_path, PARTS)).read_bytes() == blob


def test_good_file_without_marker_is_kept_without_copying(tmp_path: Path) -> None:
    spec = spec_for(PARTS)
    out = tmp_path / "models"
    out.mkdir()
    (out / "tiny.gguf").write_bytes(b"".join(PARTS))
    assert assemble(spec, out, lambda: []).read_bytes() == b"".join(PARTS)
    assert (out / "tiny.gguf.verified").is_file()


def _assemble_in_child(spec: ModelSpec, out: str, chunks: list[str], log: str) -> str:
    def counted() -> list[Path]:
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        return [Path(c) for c in chunks]

    return str(assemble(spec, Path(out), counted))


def test_concurrent_processes_assemble_once_and_agree(tmp_path: Path) -> None:
    parts = [os.urandom(200_000) for _ in range(5)]
    spec = spec_for(parts)
    chunks = [str(p) for p in make_chunks(tmp_path, parts)]
    out, log = tmp_path / "models", tmp_path / "assemblies.log"
    with multiprocessing.get_context("fork").Pool(4) as pool:
        results = pool.starmap(_assemble_in_child, [(spec, str(out), chunks, str(log))] * 4)
    assert set(results) == {str(out / "tiny.gguf")}
    assert (out / "tiny.gguf").read_bytes() == b"".join(parts)
    assert len(log.read_text().split()) == 1  # the others found the verified file after the lock
    assert leftovers(out) == []


def _fake_distribution(site: Path, name: str, data: bytes | None) -> None:
    module = name.replace("-", "_")
    info = site / f"{module}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    record = [f"{module}/__init__.py,,", f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
    (site / module).mkdir()
    (site / module / "__init__.py").write_text("")
    if data is not None:
        (site / module / "data").mkdir()
        (site / module / "data" / "part01.bin").write_bytes(data)
        record.append(f"{module}/data/part01.bin,,")
    (info / "RECORD").write_text("\n".join(record) + "\n")


def test_chunks_are_found_in_installed_packages_in_order(tmp_path: Path, monkeypatch) -> None:
    _fake_distribution(tmp_path, "fake-chunks-part1", b"one")
    _fake_distribution(tmp_path, "fake-chunks-part2", b"two")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = ModelSpec("fake", ("fake-chunks-part1", "fake-chunks-part2"), 6, "x", "chatml", "pip install x")
    assert [p.read_bytes() for p in chunk_paths(spec)] == [b"one", b"two"]


def test_missing_chunk_packages_name_the_install_command(tmp_path: Path, monkeypatch) -> None:
    _fake_distribution(tmp_path, "fake-chunks-part1", b"one")
    _fake_distribution(tmp_path, "fake-chunks-part3", None)  # installed but holds no data
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = ModelSpec(
        "fake", ("fake-chunks-part1", "fake-chunks-part2", "fake-chunks-part3"), 6, "x", "chatml",
        "pip install 'backprose[local]'",
    )  # fmt: skip
    with pytest.raises(LocalModelUnavailable) as err:
        chunk_paths(spec)
    message = str(err.value)
    assert "fake-chunks-part2" in message and "fake-chunks-part3" in message
    assert "fake-chunks-part1" not in message
    assert "pip install 'backprose[local]'" in message


def test_ensure_model_uses_an_existing_gguf_path_as_is(tmp_path: Path) -> None:
    gguf = tmp_path / "my.gguf"
    gguf.write_bytes(b"GGUF")
    assert ensure_model(gguf) == gguf
    assert ensure_model(str(gguf)) == gguf


def test_ensure_model_rejects_unknown_names_listing_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(LocalModelUnavailable) as err:
        ensure_model(tmp_path / "missing.gguf")
    assert "missing.gguf" in str(err.value)
    assert all(name in str(err.value) for name in MODELS)


def test_ensure_model_assembles_known_names_into_the_cache_dir(tmp_path: Path, monkeypatch) -> None:
    spec = spec_for(PARTS, name="tiny-known")
    chunks = make_chunks(tmp_path, PARTS)
    monkeypatch.setitem(model_files.MODELS, spec.name, spec)
    monkeypatch.setattr(model_files, "chunk_paths", lambda s: chunks)
    monkeypatch.setenv("BACKPROSE_CACHE_DIR", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache"
    path = ensure_model("tiny-known")
    assert path == tmp_path / "cache" / "models" / "tiny-known.gguf"
    assert path.read_bytes() == b"".join(PARTS)


def test_registry_sizes_match_their_chunk_layout() -> None:
    small = MODELS[model_files.DEFAULT_MODEL]
    assert small.size == 491_400_064 and len(small.packages) == 6
    big = MODELS["qwen2.5-coder-1.5b-instruct"]
    assert big.size == 1_117_320_768 and len(big.packages) == 22
    assert all(len(spec.sha256) == 64 for spec in MODELS.values())
