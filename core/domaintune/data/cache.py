"""The Arrow cache of loaded sources: where it lives, who may read it, and how it is cleared.

A loaded source holds every row as read, before any safety filter: raw identifiers. So by
default the cache is a private (0700) temporary folder of this process, removed when the
process exits; a later command that finds the folder of a killed process removes it. Within
the process it still serves what it is for: a source read twice (variant choice, then the
run) is parsed once, and a multi-process ``datasets.map`` memory-maps the file in every worker
instead of receiving a pickled copy of the table.

``DOMAINTUNE_KEEP_DATA_CACHE=1`` keeps the cache between commands instead, in
``$DOMAINTUNE_CACHE/data`` (folder 0700, files 0600), so that a large file is parsed once for
many runs; :func:`clear_data_cache` empties it (``tune cache clear``).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

KEEP_ENV = "DOMAINTUNE_KEEP_DATA_CACHE"
LOADER_VERSION = "2"
"""Part of the cache key: bump it when the normalized rows of a file would change."""
SESSION_PREFIX = "domaintune-data-"
LOCK_NAME = ".lock"
"""Held (flock) by the session's process while it lives: a folder whose lock can be taken
belongs to a process that is gone, even one in another PID namespace."""

_session: Path | None = None
_session_lock: int | None = None


@dataclass(frozen=True)
class ClearedCache:
    """What :func:`clear_data_cache` removed."""

    files: int
    bytes: int


def keeps_data_cache() -> bool:
    """Whether the user asked to keep loaded sources between commands (the one place that reads it)."""
    return os.environ.get(KEEP_ENV, "").strip().lower() not in ("", "0", "false", "no")


def kept_cache_dir() -> Path:
    from domaintune.paths import cache_dir

    return cache_dir() / "data"


def data_cache_dir() -> Path:
    """The folder this process caches loaded sources in, created private on first use."""
    global _session, _session_lock
    if keeps_data_cache():
        folder = kept_cache_dir()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)  # a folder left by an older version was 0755
        return folder
    if _session is None or not _session.is_dir():
        _remove_stale_sessions()
        _session = Path(tempfile.mkdtemp(prefix=f"{SESSION_PREFIX}{os.getpid()}-"))  # mode 0700
        # Locked before it has its name: a process starting beside this one (another rank)
        # finds no lock file (and checks the pid) or a held lock, never an unlocked one that
        # would make this folder look stale and be removed under it.
        unnamed_lock = _session / f"{LOCK_NAME}.{os.getpid()}"
        _session_lock = os.open(unnamed_lock, os.O_WRONLY | os.O_CREAT, 0o600)
        fcntl.flock(_session_lock, fcntl.LOCK_EX)
        os.rename(unnamed_lock, _session / LOCK_NAME)
        atexit.register(shutil.rmtree, _session, ignore_errors=True)
    return _session


def cache_key(format: str, where_from: str, identity: str, shape: str, column_map: Mapping[str, str]) -> str:
    """The name of a source's cache entry: what was read, its version, and how it was read."""
    parts = [LOADER_VERSION, format, where_from, identity, shape, sorted(column_map.items())]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


def write_private_text(path: Path, text: str) -> None:
    """Write ``text`` to a new file only its owner can read."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def clear_data_cache() -> ClearedCache:
    """Remove the kept cache and the folders of processes that died before removing theirs."""
    files = size = 0
    for folder in [kept_cache_dir(), *_stale_sessions()]:
        if not folder.is_dir():
            continue
        for entry in folder.rglob("*"):
            with contextlib.suppress(OSError):
                if entry.is_file() and not entry.is_symlink():
                    files += 1
                    size += entry.stat().st_size
        shutil.rmtree(folder, ignore_errors=True)
    return ClearedCache(files, size)


def _stale_sessions() -> list[Path]:
    """This user's session folders whose process is gone (killed before its exit handler ran)."""
    stale = []
    for folder in Path(tempfile.gettempdir()).glob(f"{SESSION_PREFIX}*-*"):
        try:
            owned = folder.is_dir() and not folder.is_symlink() and folder.stat().st_uid == os.getuid()
        except OSError:
            continue
        if owned and folder != _session and not _in_use(folder):
            stale.append(folder)
    return stale


def _in_use(folder: Path) -> bool:
    """Whether the process that made ``folder`` still holds its lock (or, in the moment before
    it takes the lock, is alive)."""
    try:
        descriptor = os.open(folder / LOCK_NAME, os.O_WRONLY)
    except FileNotFoundError:
        pid_text = folder.name.removeprefix(SESSION_PREFIX).split("-", 1)[0]
        return pid_text.isdigit() and _alive(int(pid_text))
    except OSError:
        return True
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


def _remove_stale_sessions() -> None:
    for folder in _stale_sessions():
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
