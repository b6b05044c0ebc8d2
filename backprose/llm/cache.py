"""On-disk response cache: the same request never pays twice, and a whole run can replay offline.

Keys hash the full request (model, messages, every option, and the sample index when a caller asks for
several samples). Storage is SQLite in WAL mode with one connection per thread and per process, and every
answer is committed as soon as it arrives, so a killed run repeats no finished call.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from backprose.errors import CacheMiss, InvalidOption

CacheMode = Literal["readwrite", "replay", "record", "off"]
MODES: tuple[str, ...] = ("readwrite", "replay", "record", "off")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal requests always serialize identically."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def request_key(
    model: str | None,
    messages: Sequence[Mapping[str, Any]],
    options: Mapping[str, Any] | None = None,
    sample_index: int | None = None,
) -> str:
    """Stable sha256 of a request; `sample_index` keeps repeated samples of one prompt apart."""
    payload = {"model": model, "messages": list(messages), "options": dict(options or {})}
    if sample_index is not None:
        payload["sample_index"] = sample_index
    try:
        text = canonical_json(payload)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"request options must be plain JSON values to be cached ({err}); convert them to "
            "dicts/lists/str/numbers first"
        ) from err
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_cache_dir() -> Path:
    """`$BACKPROSE_CACHE_DIR`, else `$XDG_CACHE_HOME/backprose`, else `~/.cache/backprose` (not created)."""
    if os.environ.get("BACKPROSE_CACHE_DIR"):
        return Path(os.environ["BACKPROSE_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "backprose"


class ResponseCache:
    """SQLite-backed map from request key to completion dict.

    Modes: "readwrite" reads and writes; "replay" only reads and raises `CacheMiss` on a miss, so a run
    makes zero model calls; "record" always asks the model and overwrites; "off" does nothing. The
    directory is created on the first write, never on construction.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        mode: CacheMode = "readwrite",
        *,
        filename: str = "responses.sqlite3",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown cache mode {mode!r}; use one of {', '.join(MODES)}")
        self.directory = Path(directory).expanduser() if directory is not None else default_cache_dir()
        self.mode: CacheMode = mode
        self.path = self.directory / filename
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.directory)!r}, mode={self.mode!r})"

    # -- connections ---------------------------------------------------------------------------------

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        """This thread's connection in this process; a forked child opens its own."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        if not create and not self.path.exists():
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        for attempt in range(50):  # switching to WAL needs a moment alone with the file
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")  # survives a killed process; WAL keeps it safe
                conn.execute(_SCHEMA)
                break
            except sqlite3.OperationalError:
                if attempt == 49:
                    raise
                time.sleep(0.05)
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local.conn = None

    # -- reading and writing -------------------------------------------------------------------------

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored completion for `key`, or None; in replay mode a miss raises `CacheMiss`."""
        if self.mode in ("off", "record"):
            return None
        conn = self._connect(create=False)
        row = None
        if conn is not None:
            row = conn.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            if self.mode == "replay":
                raise CacheMiss(key, f"the replay cache {self.path}")
            return None
        return json.loads(row[0])

    def put(self, key: str, request: Mapping[str, Any], response: Mapping[str, Any]) -> None:
        """Store and commit at once, so the answer survives the process being killed right after."""
        if self.mode in ("off", "replay"):
            return
        conn = self._connect(create=True)
        assert conn is not None
        conn.execute(
            "INSERT OR REPLACE INTO responses (key, model, request, response, created)"
            " VALUES (?, ?, ?, ?, ?)",
            (key, request.get("model"), json.dumps(request, default=str), json.dumps(response, default=str),
             time.time()),
        )

    def __contains__(self, key: object) -> bool:
        conn = self._connect(create=False)
        if conn is None:
            return False
        return conn.execute("SELECT 1 FROM responses WHERE key = ?", (key,)).fetchone() is not None

    def __len__(self) -> int:
        conn = self._connect(create=False)
        return 0 if conn is None else conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def keys(self) -> Iterator[str]:
        conn = self._connect(create=False)
        if conn is not None:
            yield from (row[0] for row in conn.execute("SELECT key FROM responses ORDER BY created"))

    def clear(self) -> None:
        """Forget every stored answer."""
        conn = self._connect(create=False)
        if conn is not None:
            conn.execute("DELETE FROM responses")


def as_cache(cache: ResponseCache | str | os.PathLike[str] | bool | None) -> ResponseCache | None:
    """Accept what users naturally pass: a cache, a directory, True for the default directory, or None.

    `BACKPROSE_CACHE_MODE` overrides the mode of caches made here, so a finished run can be re-run
    offline (`BACKPROSE_CACHE_MODE=replay`) without editing code.
    """
    if cache is None or cache is False:
        return None
    if isinstance(cache, ResponseCache):
        return cache
    mode = os.environ.get("BACKPROSE_CACHE_MODE") or "readwrite"
    if mode not in MODES:
        raise InvalidOption("BACKPROSE_CACHE_MODE", mode, "it is not a cache mode",
                            f"set it to one of {', '.join(MODES)}, or unset it")
    return ResponseCache(None if cache is True else cache, mode=mode)  # type: ignore[arg-type]
