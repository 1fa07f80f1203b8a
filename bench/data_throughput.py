"""Rows per second for check + format + tokenize, ours against the common recipe.

    .venv/bin/python bench/data_throughput.py [--rows 100000] [--baseline-rows 20000] [--serial]

Generates a seeded prompt/completion JSONL file (classification rows shaped like LegalBench's:
an instruction, a sentence of 20 to 90 words, a Yes/No label), then times, each from a cold
cache:

ours       domaintune.data.read_data (every row validated, written to Arrow), then the
           formatter and encode_for_training (chat template, answer-only labels, no padding)
           through one batched datasets.map, with a process per core (data.map_workers);
           the same map in one process (what train.tokenize_dataset does today) is shown too.
common     the recipe of most fine-tuning blog posts: load_dataset("json") with no checks,
           a per-row map applying the chat template, a per-row map tokenizing with
           padding="max_length" and labels = input_ids.

The tokenizer is the default model's (SmolLM2-135M-Instruct), loaded without its weights.
Rows/s counts rows of the file; every figure includes writing the Arrow results.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WORDS = (
    "court held that the plaintiff defendant contract clause agreement party shall breach notice "
    "termination licence licensee affiliate warranty liability damages precedent overrule appeal "
    "statute section holding opinion claim motion judgment district circuit supreme we today hold "
    "reverse affirm remand evidence trial jury counsel privilege arbitration governing law"
).split()
INSTRUCTION = "Does the following sentence from a judicial opinion overrule a previous case? Answer Yes or No."
SYSTEM = "You are a careful legal analyst. Answer with exactly one word."


def generate(path: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(rows):
            sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 90)))
            row = {
                "prompt": f"{INSTRUCTION}\n\nSentence: {sentence}.\nAnswer:",
                "completion": rng.choice(("Yes", "No")),
                "meta": {"id": f"bench-{i}"},
            }
            handle.write(json.dumps(row) + "\n")


def tokenizer_of_default_model() -> Any:
    from domaintune.data import check as datacheck

    class Quiet:
        problems: list[str] = []
        warnings: list[str] = []
        tokenizer = None

    tokenizer = datacheck._tokenizer(None, Quiet())  # type: ignore[arg-type]
    if tokenizer is None:
        sys.exit(f"No tokenizer: {Quiet.warnings}")
    return tokenizer


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (datasets' map workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def ours(path: Path, tokenizer: Any, max_length: int, parallel: bool) -> tuple[float, float, int, float]:
    """Seconds to load and check, seconds to format and tokenize, rows, CPU seconds."""
    from domaintune.data.encoding import encode_for_training
    from domaintune.data.loading import read_data
    from domaintune.data.parallel import map_workers
    from domaintune.default_plugins.formatting import make_formatter
    from domaintune.plugins import get_domain

    formatter = make_formatter(get_domain("legal"))
    cpu = cpu_seconds()
    started = time.perf_counter()
    dataset = read_data(path)
    loaded = time.perf_counter()

    def encode(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:  # as train.tokenize_dataset
        encoded = encode_for_training(formatter(batch), tokenizer, max_length)
        encoded["length"] = [len(ids) for ids in encoded["input_ids"]]
        return encoded

    tokenized = dataset.map(
        encode, batched=True, remove_columns=dataset.column_names,
        num_proc=map_workers(len(dataset)) if parallel else None,
    )
    assert len(tokenized) == len(dataset)
    return loaded - started, time.perf_counter() - loaded, len(dataset), cpu_seconds() - cpu


def common(path: Path, tokenizer: Any, max_length: int) -> tuple[float, int, float]:
    import datasets

    cpu = cpu_seconds()
    started = time.perf_counter()
    dataset = datasets.load_dataset("json", data_files=str(path), split="train")

    def to_text(row: dict[str, Any]) -> dict[str, str]:
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": row["prompt"]},
            {"role": "assistant", "content": row["completion"]},
        ]
        return {"text": tokenizer.apply_chat_template(messages, tokenize=False)}

    def tokenize(row: dict[str, Any]) -> dict[str, Any]:
        encoded = tokenizer(row["text"], truncation=True, max_length=max_length, padding="max_length")
        encoded["labels"] = encoded["input_ids"].copy()
        return encoded

    dataset = dataset.map(to_text)
    dataset = dataset.map(tokenize, remove_columns=dataset.column_names)
    return time.perf_counter() - started, len(dataset), cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--baseline-rows", type=int, default=20_000,
                        help="Rows for the common recipe (a rate; fewer keeps the run near a minute).")
    parser.add_argument("--serial", action="store_true", help="Also time ours in one process.")
    parser.add_argument("--max-length", type=int, default=256)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="domaintune-bench-") as folder:
        root = Path(folder)
        # Cold caches for both: ours under DOMAINTUNE_CACHE, datasets' under HF_DATASETS_CACHE.
        os.environ["DOMAINTUNE_CACHE"] = str(root / "domaintune-cache")
        os.environ["HF_DATASETS_CACHE"] = str(root / "hf-cache")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import datasets

        datasets.disable_progress_bars()
        datasets.config.HF_DATASETS_CACHE = Path(os.environ["HF_DATASETS_CACHE"])
        from domaintune.data.parallel import map_workers

        data = root / "rows.jsonl"
        generate(data, args.rows)
        baseline = data
        if args.baseline_rows != args.rows:
            baseline = root / "baseline.jsonl"
            generate(baseline, args.baseline_rows)
        tokenizer = tokenizer_of_default_model()
        size = data.stat().st_size / 2**20
        print(f"{args.rows:,} rows ({size:.1f} MiB JSONL), max_length {args.max_length}, "
              f"{map_workers(args.rows) or 1} worker(s) of {os.cpu_count()} CPUs")

        load_before = os.getloadavg()[0]
        check_s, tokenize_s, rows, cpu = ours(data, tokenizer, args.max_length, parallel=True)
        total = check_s + tokenize_s
        print(f"ours    check {rows / check_s:>9,.0f} rows/s ({check_s:5.1f} s); format+tokenize "
              f"{rows / tokenize_s:>7,.0f} rows/s ({tokenize_s:5.1f} s); all {rows / total:>7,.0f} rows/s, "
              f"{cpu / rows * 1e6:4.0f} CPU-us/row")
        serial = None
        if args.serial:
            os.environ["DOMAINTUNE_CACHE"] = str(root / "domaintune-cache-serial")
            check_1, tokenize_1, _, cpu_1 = ours(data, tokenizer, args.max_length, parallel=False)
            serial = check_1 + tokenize_1
            print(f"ours, one process: all {rows / serial:>7,.0f} rows/s ({serial:5.1f} s; format+tokenize "
                  f"{tokenize_1:5.1f} s), {cpu_1 / rows * 1e6:4.0f} CPU-us/row")
        common_s, common_rows, common_cpu = common(baseline, tokenizer, args.max_length)
        common_rate = common_rows / common_s
        print(f"common  load+format+tokenize {common_rate:>7,.0f} rows/s ({common_s:5.1f} s on {common_rows:,} rows), "
              f"{common_cpu / common_rows * 1e6:4.0f} CPU-us/row")
        print(f"ratio   ours / common = {(rows / total) / common_rate:.2f}x rows/s"
              + (f" (ours in one process: {(rows / serial) / common_rate:.2f}x)" if serial else "")
              + f"; {(common_cpu / common_rows) / (cpu / rows):.2f}x less CPU per row")
        print(f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after "
              f"(wall-clock figures assume the {os.cpu_count()} CPUs are otherwise idle)")


if __name__ == "__main__":
    main()
