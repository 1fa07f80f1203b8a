"""Hash keys of rows' text, for duplicates, contamination and the overlap of train and eval.

Keys are 64-bit integers, so a million rows' keys are 8 MB of numpy, not the text itself.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING

from domaintune.data.rows import TEXT_FIELDS

if TYPE_CHECKING:
    import datasets


def normalize_text(text: str) -> str:
    """Case, Unicode compatibility forms and runs of white space do not make a row new."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def text_hash(text: str) -> int:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def row_keys(batch: Mapping[str, list[str]]) -> dict[str, list[int]]:
    """Per row: ``exact`` (prompt and completion as they are), ``normalized`` (both
    normalized) and ``prompt`` (the normalized prompt, or the completion of a text row)."""
    exact, normalized, prompt_keys = [], [], []
    for prompt, completion in zip(batch["prompt"], batch["completion"]):
        exact.append(text_hash(f"{prompt}\x1f{completion}"))
        norm_prompt, norm_completion = normalize_text(prompt), normalize_text(completion)
        normalized.append(text_hash(f"{norm_prompt}\x1f{norm_completion}"))
        prompt_keys.append(text_hash(norm_prompt) if norm_prompt else text_hash(f"\x1e{norm_completion}"))
    return {"exact": exact, "normalized": normalized, "prompt": prompt_keys}


def prompt_keys(dataset: datasets.Dataset) -> list[int]:
    keys: list[int] = []
    for batch in dataset.select_columns(list(TEXT_FIELDS)).iter(batch_size=4096):
        keys.extend(row_keys(batch)["prompt"])
    return keys
