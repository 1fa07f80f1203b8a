"""The figures of `tune data check`, one function each: labels, token lengths, duplicates and
the rows shared by train and eval. Per-row work runs batched through ``datasets.map`` (in
parallel on big sources) and keeps only small columns (lengths, hashes) in memory."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from domaintune.data.keys import row_keys
from domaintune.data.parallel import map_workers

if TYPE_CHECKING:
    import datasets
    import numpy as np
    from transformers import PreTrainedTokenizerBase

EXAMPLES = 3
LABEL_GUESS_MAX = 20
"""Without a domain, data with at most this many distinct short completions is treated as
classification data."""
PERCENTILES = (50, 90, 95, 99)




def arrow_column(dataset: datasets.Dataset, name: str) -> Any:
    return dataset.with_format("arrow")[name]


def looks_like_labels(dataset: datasets.Dataset) -> bool:
    import pyarrow.compute as pc

    completions = pc.utf8_trim_whitespace(arrow_column(dataset, "completion"))
    distinct = pc.count_distinct(completions).as_py()
    longest = pc.max(pc.utf8_length(completions)).as_py() or 0
    return distinct <= LABEL_GUESS_MAX and len(dataset) >= 5 * distinct and longest <= 30


def label_counts(dataset: datasets.Dataset) -> dict[str, int]:
    import pyarrow.compute as pc

    completions = pc.utf8_trim_whitespace(arrow_column(dataset, "completion"))
    if pc.count_distinct(completions).as_py() > 1000:
        return {f"({pc.count_distinct(completions).as_py()} distinct)": len(dataset)}
    counts = {item["values"]: item["counts"] for item in pc.value_counts(completions).to_pylist()}
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def token_lengths(
    dataset: datasets.Dataset, formatter: Any, tokenizer: PreTrainedTokenizerBase, max_length: int
) -> dict[str, Any]:
    """Prompt and answer tokens per row, exactly as training encodes them."""
    import numpy as np

    from domaintune.data.encoding import split_prompt_answer, tokenize_texts

    def lengths(batch: dict[str, list[Any]]) -> dict[str, list[int]]:
        prompts, answers = split_prompt_answer(formatter(batch), tokenizer)
        return {
            "prompt_tokens": [len(ids) for ids in tokenize_texts(tokenizer, prompts)],
            "answer_tokens": [len(ids) for ids in tokenize_texts(tokenizer, answers)],
        }

    counted = dataset.map(
        lengths, batched=True, batch_size=256, num_proc=map_workers(len(dataset)),
        remove_columns=dataset.column_names, keep_in_memory=True, new_fingerprint=uuid.uuid4().hex,
    ).with_format("numpy")[:]
    prompt, answer = counted["prompt_tokens"], counted["answer_tokens"]
    total = prompt + answer
    return {
        "percentiles": {str(p): int(v) for p, v in zip(PERCENTILES, np.percentile(total, PERCENTILES, method="nearest"))},
        "max": int(total.max()),
        "mean": round(float(total.mean()), 1),
        "truncated": int((total > max_length).sum()),
        "answer_cut": int((answer > max_length - 1).sum()),
    }


def text_keys(dataset: datasets.Dataset) -> dict[str, np.ndarray]:
    hashed = dataset.select_columns(["prompt", "completion"]).map(
        row_keys, batched=True, batch_size=2048, remove_columns=["prompt", "completion"],
        keep_in_memory=True, new_fingerprint=uuid.uuid4().hex,
    ).with_format("numpy")[:]
    return {name: hashed[name] for name in ("exact", "normalized", "prompt")}


def duplicates(keys: dict[str, np.ndarray]) -> dict[str, Any]:
    import numpy as np

    rows = len(keys["exact"])
    exact = rows - len(np.unique(keys["exact"]))
    normalized = rows - len(np.unique(keys["normalized"])) - exact
    _, first_norm, inverse_norm = np.unique(keys["normalized"], return_index=True, return_inverse=True)
    repeats = np.flatnonzero(first_norm[inverse_norm.ravel()] != np.arange(rows))[:EXAMPLES]
    examples = [(int(i) + 1, int(first_norm[inverse_norm.ravel()[i]]) + 1) for i in repeats]
    pairs = np.unique(np.stack([keys["prompt"], keys["normalized"]], axis=1), axis=0)
    prompts, counts = np.unique(pairs[:, 0], return_counts=True)
    conflicting = prompts[counts > 1]
    return {
        "exact": int(exact),
        "normalized": int(normalized),
        "examples": examples,
        "conflicting_prompts": int(len(conflicting)),
        "conflicting_rows": int(np.isin(keys["prompt"], conflicting).sum()),
    }


def contamination(train: dict[str, np.ndarray], eval_: dict[str, np.ndarray]) -> dict[str, Any]:
    import numpy as np

    shared = np.isin(eval_["prompt"], train["prompt"])
    rows = np.flatnonzero(shared)
    examples = []
    for i in rows[:EXAMPLES]:
        j = int(np.flatnonzero(train["prompt"] == eval_["prompt"][i])[0])
        examples.append((int(i) + 1, j + 1))
    return {"eval_rows": int(len(shared)), "rows": int(len(rows)), "examples": examples}


def rows_text(count: int) -> str:
    return f"{count:,} row{'' if count == 1 else 's'}"


def pairs_text(examples: list[tuple[int, int]], first: str, second: str) -> str:
    return ", ".join(f"{first} {a} = {second} {b}" for a, b in examples) or "none"
