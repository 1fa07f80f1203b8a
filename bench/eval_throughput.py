"""Scoring throughput: domaintune's batched label scoring against a text-generation pipeline.

    python bench/eval_throughput.py                 # 100 held-out legal rows, default model
    python bench/eval_throughput.py --rows 10       # smoke test

Both score the same held-out rows (the seeded split of bench/train_throughput.py: same --data,
--seed and row count give the same rows), with the same chat template and system prompt:

  ours      domaintune.evaluation.score_labels: the log-likelihood of each label after the
            prompt, batched by length, the output layer run on the last positions only; under
            bf16 autocast where the CPU runs it natively, as `tune` scores (--precision)
  pipeline  transformers.pipeline("text-generation"), one row at a time, greedy, just enough
            new tokens for the longest label, fp32; its text is mapped to the label it starts
            with (anything else counts as no label)

Prints examples/s of each, the predictions' agreement and each one's accuracy. Then a tuned
model as `tune` scores it (LoRA unmerged over the frozen bf16 weights), label scoring and greedy
generation by today's method (`logits_to_keep` as an int: torch copies the output layer's
weight per row; generation prefilled each prompt whole; peft's adapter forward) and by ours (an
index tensor; the prefix all prompts share prefilled once; the adapters folded into one addmm
each). Last line
`RESULT speedup_vs_pipeline=<ours over pipeline> speedup_vs_before=<tuned-model label scoring,
ours over today's> generation_speedup_vs_before=<the same for generation>`.

The endpoint path: `tune eval --endpoint` against a running OpenAI-compatible server, at
concurrency 1 and 8, each from an empty response cache:

    tune serve RUN_DIR --port 8000 &                  # a run of the legal domain
    python bench/eval_throughput.py --endpoint http://127.0.0.1:8000/v1 --served-model NAME

Prints rows/s at each concurrency and how the labels were read; last line
`RESULT endpoint_rows_per_s_c1=<x> endpoint_rows_per_s_c8=<y>`.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data" / "legal" / "legalbench_overruling.train.jsonl"
BUNDLED_DATA = REPO / "plugins" / "legal" / "domaintune_legal" / "data" / "overruling.train.jsonl"
# The full LegalBench overruling file where shared/ sits beside the repo, else the legal pack's
# 1,000-row sample of it.
DEFAULT_DATA = SHARED_DATA if SHARED_DATA.is_file() else BUNDLED_DATA
DOMAIN = "legal"


def held_out_rows(path: Path, rows: int, seed: int) -> list[dict[str, str]]:
    """The first rows of a seeded shuffle: train_throughput.py's held-out rows."""
    data = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                row = json.loads(line)
                data.append({"prompt": row["prompt"], "completion": row["completion"]})
    random.Random(seed).shuffle(data)
    return data[:rows]


def label_of(text: str, labels: list[str]) -> str:
    text = text.strip()
    for label in sorted(labels, key=len, reverse=True):
        if text.startswith(label):
            return label
    return f"<no label: {text[:20]!r}>"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="JSONL with prompt and completion fields")
    parser.add_argument("--model", default=None, help="model folder; default: domaintune's embedded default")
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8, help="ours; RunConfig.eval_batch_size's default")
    parser.add_argument("--precision", choices=["auto", "fp32"], default="auto",
                        help="ours: auto = bf16 autocast where native, as `tune` scores")
    parser.add_argument("--generate-rows", type=int, default=24, help="tuned-model setups: rows to generate for")
    parser.add_argument("--new-tokens", type=int, default=16, help="tuned-model setups: new tokens per generated answer")
    parser.add_argument("--endpoint", help="an OpenAI-compatible base URL: time tune eval --endpoint instead")
    parser.add_argument("--served-model", default="run", help="with --endpoint: the model name the server serves")
    args = parser.parse_args()
    if args.endpoint:
        endpoint_main(args)
        return

    import torch
    import transformers
    from datasets import Dataset
    from domaintune.default_plugins.formatting import make_formatter
    from domaintune.evaluation.scoring import render_eval_set, score_labels
    from domaintune.model import default_model_path, load_model, load_tokenizer
    from domaintune.plugins import get_domain
    from domaintune.precision import use_bf16

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    domain = get_domain(DOMAIN)
    formatter = make_formatter(domain)
    path = str(args.model or default_model_path())
    tokenizer = load_tokenizer(path)
    model = load_model(path).eval()
    rows = held_out_rows(Path(args.data), args.rows, args.seed)
    labels = list(domain.labels) + sorted({r["completion"].strip() for r in rows} - set(domain.labels))
    bf16 = use_bf16(args.precision)
    print(f"{len(rows)} held-out rows of {args.data} (seed {args.seed}), labels {labels}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")

    def ours(prompts: list[str]) -> list[str]:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return score_labels(model, tokenizer, prompts, labels, args.max_length, args.batch_size, lambda n: None)

    prompts, references = render_eval_set(Dataset.from_list(rows), formatter, tokenizer, domain.name)
    ours(prompts[:2])  # warm-up, untimed
    started = time.monotonic()
    our_predictions = ours(prompts)
    our_seconds = time.monotonic() - started

    pipe = transformers.pipeline("text-generation", model=model, tokenizer=tokenizer)
    new_tokens = max(len(ids) for ids in tokenizer(labels, add_special_tokens=False)["input_ids"]) + 1
    conversations = [c[:-1] for c in formatter({"prompt": [r["prompt"] for r in rows], "completion": references})]

    def generate(messages: list[dict[str, str]]) -> str:
        output = pipe(messages, max_new_tokens=new_tokens, do_sample=False, return_full_text=False)
        text = output[0]["generated_text"]
        return text if isinstance(text, str) else text[-1]["content"]

    for messages in conversations[:2]:  # warm-up, untimed
        generate(messages)
    started = time.monotonic()
    pipe_texts = [generate(messages) for messages in conversations]
    pipe_seconds = time.monotonic() - started
    pipe_predictions = [label_of(text, labels) for text in pipe_texts]

    n = len(rows)
    agree = sum(a == b for a, b in zip(our_predictions, pipe_predictions))
    no_label = sum(p.startswith("<no label") for p in pipe_predictions)
    ours_rate, pipe_rate = n / our_seconds, n / pipe_seconds
    print(f"ours:     {ours_rate:7.2f} examples/s ({our_seconds:.1f} s; label log-likelihood, batch "
          f"{args.batch_size}, {'bf16 autocast' if bf16 else 'fp32'}), accuracy "
          f"{sum(p == r for p, r in zip(our_predictions, references)) / n:.2f}")
    print(f"pipeline: {pipe_rate:7.2f} examples/s ({pipe_seconds:.1f} s; greedy, {new_tokens} new tokens, "
          f"one row at a time, fp32), accuracy {sum(p == r for p, r in zip(pipe_predictions, references)) / n:.2f}, "
          f"{no_label} answers that are no label")
    print(f"agreement: {agree}/{n} rows ({agree / n:.0%}) get the same prediction")
    differing = [i for i, (a, b) in enumerate(zip(our_predictions, pipe_predictions)) if a != b]
    for i in differing[:10]:
        print(f"  row {i}: ours {our_predictions[i]!r}, pipeline {pipe_predictions[i]!r} (text {pipe_texts[i]!r})")
    before, after = tuned_model_setups(args, model, tokenizer, prompts, labels, bf16)
    print(f"RESULT speedup_vs_pipeline={ours_rate / pipe_rate:.2f} speedup_vs_before={after['score'] / before['score']:.2f} "
          f"generation_speedup_vs_before={after['generate'] / before['generate']:.2f}")


def tuned_model_setups(
    args: argparse.Namespace, model: Any, tokenizer: Any, prompts: list[str], labels: list[str], bf16: bool,
) -> tuple[dict[str, float], dict[str, float]]:
    """Rows/s of label scoring and of greedy generation on a tuned model as `tune` scores it
    (LoRA where `tune` puts it: the linear layers of the upper half of the decoder's layers,
    `adapter_layers`; unmerged, the frozen weights in bf16 where native), today's
    method (``logits_to_keep`` as an int; each generated prompt prefilled whole; peft's adapter
    forward) against ours (an index tensor, `domaintune.positions`; the shared prefix prefilled
    once, `domaintune.prefix`; the adapters folded, `domaintune.lora_inference`).
    The LoRA weights are freshly initialised (B = 0): the speed is what differs, not the answers."""
    import contextlib
    import copy

    import torch
    from domaintune import prefix as prefixes
    from domaintune.config import build_config
    from domaintune.evaluation import scoring
    from domaintune.plugins import get_domain
    from domaintune.training.methods import cast_frozen_weights, prepare_model

    config = build_config(dict(get_domain(DOMAIN).defaults), {"domain": DOMAIN, "precision": "auto" if bf16 else "fp32"})
    tuned = prepare_model(cast_frozen_weights(copy.deepcopy(model), config), config).eval()
    generate_prompts = prompts[: args.generate_rows]
    figures: dict[str, dict[str, float]] = {}
    answers: dict[str, tuple[list[str], list[str]]] = {}
    ours_positions, ours_min_prefix, ours_folded = scoring.last_positions, prefixes.MIN_SHARED_PREFIX, scoring.folded_adapters
    for setup, positions in (("before", lambda count, device: count), ("ours", ours_positions)):
        scoring.last_positions = positions  # today's method: transformers' int slice
        # Today's method ran peft's own adapter forward.
        scoring.folded_adapters = (lambda model: contextlib.nullcontext()) if setup == "before" else ours_folded
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            scoring.score_labels(tuned, tokenizer, prompts[:2], labels, args.max_length, args.batch_size, lambda n: None)
            started = time.monotonic()
            picked = scoring.score_labels(tuned, tokenizer, prompts, labels, args.max_length, args.batch_size, lambda n: None)
            score_rate = len(prompts) / (time.monotonic() - started)
            # Today's generation prefilled every prompt whole; label scoring shared the prefix.
            prefixes.MIN_SHARED_PREFIX = 10**9 if setup == "before" else ours_min_prefix
            started = time.monotonic()
            generated = scoring.generate_answers(
                tuned, tokenizer, generate_prompts, args.max_length, args.new_tokens, args.batch_size, lambda n: None
            )
            generate_rate = len(generate_prompts) / (time.monotonic() - started)
            prefixes.MIN_SHARED_PREFIX = ours_min_prefix
        figures[setup] = {"score": score_rate, "generate": generate_rate}
        answers[setup] = (picked, generated)
        print(f"tuned model, {setup:6s}: label scoring {score_rate:6.2f} rows/s, generation "
              f"{generate_rate:5.2f} rows/s ({len(generate_prompts)} rows, {args.new_tokens} new tokens)")
    scoring.last_positions, scoring.folded_adapters = ours_positions, ours_folded
    same_text = sum(a == b for a, b in zip(answers["before"][1], answers["ours"][1]))
    print(f"tuned model: same labels {answers['before'][0] == answers['ours'][0]}, same generated text on "
          f"{same_text} of {len(generate_prompts)} rows (bf16 rounds a prefix run apart differently)")
    return figures["before"], figures["ours"]


def endpoint_main(args: argparse.Namespace) -> None:
    """rows/s of `tune eval --endpoint` at concurrency 1 and 8, from an empty cache each."""
    import tempfile

    from domaintune.evaluation.endpoint import Endpoint, evaluate_endpoint
    from domaintune.evaluation.external import EvalRequest

    rows = held_out_rows(Path(args.data), args.rows, args.seed)
    rates = {}
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "heldout.jsonl"
        data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        for concurrency in (1, 8):
            request = EvalRequest(DOMAIN, [data], Path(folder) / f"c{concurrency}", True, {"eval_rows": len(rows)})
            started = time.monotonic()
            summary = evaluate_endpoint(request, Endpoint(args.endpoint, args.served_model, concurrency=concurrency))
            seconds = time.monotonic() - started
            rates[concurrency] = len(rows) / seconds
            figures = summary["heldout"]
            print(f"concurrency {concurrency}: {rates[concurrency]:.2f} rows/s ({seconds:.1f} s, {len(rows)} rows), "
                  f"labels read by {figures['method']}, accuracy {figures['metrics'].get('accuracy', float('nan')):.2f}")
    print(f"RESULT endpoint_rows_per_s_c1={rates[1]:.2f} endpoint_rows_per_s_c8={rates[8]:.2f}")


if __name__ == "__main__":
    main()
