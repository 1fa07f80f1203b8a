"""Where domaintune keeps files between runs: the user's private cache folder."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "DOMAINTUNE_CACHE"


def cache_dir() -> Path:
    """``$DOMAINTUNE_CACHE``, else ``~/.cache/domaintune``: converted models, data caches."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "domaintune")
