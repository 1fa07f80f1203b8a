"""Default data loader: prompt/completion JSONL, validated line by line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from domaintune import Domain, hookimpl
from domaintune.data import read_jsonl
from domaintune.errors import DataError

if TYPE_CHECKING:
    import datasets


@hookimpl(trylast=True)
def load_data(domain: Domain, source: str) -> datasets.Dataset:
    path = Path(source)
    if path.suffix.lower() != ".jsonl":
        raise DataError(
            f"No installed plugin reads {source} for domain {domain.name!r}; the core reads "
            "JSONL files with one {\"prompt\": ..., \"completion\": ...} object per line. "
            "Convert the file to JSONL, or install a plugin that reads this format."
        )
    return read_jsonl(path)
