"""Cross-check domaintune's classification accuracy against EleutherAI's lm-eval harness.

    python bench/lm_eval_crosscheck.py                      # legal, its bundled 200 held-out rows
    python bench/lm_eval_crosscheck.py --eval-rows 20       # smoke test
    python bench/lm_eval_crosscheck.py --domain legal --data my.jsonl --precision bf16

Why: domaintune scores a classification domain with its own code (the log-likelihood of each
label's tokens after the chat-templated prompt, the most likely label wins). lm-eval's
`multiple_choice` tasks do the same thing with independent code, so running both on the same
model (the untuned default, SmolLM2-135M-Instruct) and the same held-out rows must give the
same accuracy: they must agree within 1 point, else one of the two scorers is wrong.

What each side gets:

  rows       exactly the run's held-out rows: a RunConfig from `build_config(domain defaults,
             options)` and `domaintune.run.prepare_data`, rendered by the domain's formatter
             and the tokenizer's chat template (`render_eval_set`, as `Scoring.build` does);
             the choices are `class_labels` (the domain's labels plus any the data uses)
  domaintune `domaintune.evaluation.predict` on the base model, loaded as `tune` loads it
             (`cast_frozen_weights(load_model(...))`), bf16 autocast only with --precision bf16
  lm-eval    `lm_eval.simple_evaluate` with the HF model ("hf": pretrained=<local folder>,
             dtype float32 or bfloat16, device cpu) on a local task written to a temp dir and
             loaded by `TaskManager(include_path=...)`: `output_type: multiple_choice`,
             `doc_to_text` = the prompt string domaintune scores (stored in a local JSONL:
             `dataset_path: json`), `doc_to_choice` = the labels, `doc_to_target` = the
             reference's index, metric `acc`, zero-shot

Details that make the two comparable, each checked here or in lm-eval's source (0.4.13):

- domaintune appends the label's tokens straight after the prompt, which ends with the
  assistant-turn start "<|im_start|>assistant\\n" (`score_labels`: prompt ids + label ids, each
  tokenized alone), so `target_delimiter: ""`.
- No chat template on lm-eval's side (`apply_chat_template=False`): the text is already rendered.
- No extra BOS: domaintune tokenizes with `add_special_tokens=False` (the template holds the
  special tokens); lm-eval gets `add_bos_token=False`, which it passes on as the same flag.
- lm-eval moves the prompt's trailing whitespace into the continuation (`_encode_pair`), so it
  scores "\\n" + label after "...assistant" where domaintune scores the label after
  "...assistant\\n". The token sequence is the same; lm-eval's log-likelihood adds the same
  log P("\\n") to every choice, so the argmax (acc) is unchanged (acc_norm would not be, and is
  not used). The script checks, for every row and label, that lm-eval's context + continuation
  tokens equal domaintune's prompt + label tokens.
- Prompts longer than `max_length` minus the longest label lose their middle in domaintune
  (`cut_middle`); lm-eval would keep them whole, so such rows are given to lm-eval as the text
  of the cut tokens (the token check above covers the round trip).

Offline: lm-eval's `dataset_path: json` loads the local JSONL through `datasets`, and `acc` is
lm-eval's own metric (no `evaluate` download). The script sets HF_HUB_OFFLINE=1 and
HF_DATASETS_OFFLINE=1 before importing anything, so no library tries the hub.

Prints both accuracies (3 decimals), each side's scoring seconds (model loading not included;
on a busy machine they are not a fair speed comparison), the per-row agreement of the
predictions, each side's predicted-label counts (a model that always answers one label makes
accuracy agreement cheap), lm-eval's smallest label margin, and last `RESULT domaintune_accuracy=<a> lm_eval_accuracy=<b> difference=<|a-b|
in points>`. Exits with status 1 when the difference is over 1 point. Setup:
`.venv/bin/pip install -e '.[bench]'` (lm-eval==0.4.13).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

TASK_NAME = "domaintune_crosscheck"
MAX_DIFFERENCE_POINTS = 1.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domain", default="legal", help="a classification domain (see `tune plugins`)")
    parser.add_argument("--data", default=None,
                        help="data file as `tune --data`; default: the domain's bundled data and eval split")
    parser.add_argument("--eval-rows", type=int, default=None,
                        help="held-out rows (RunConfig.eval_rows: the cap on an eval split); default 200")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="both sides: fp32 weights, or bf16 (domaintune: bf16 weights + autocast; "
                        "lm-eval: dtype bfloat16, fp32 softmax)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="both sides; default RunConfig.eval_batch_size (16)")
    return parser.parse_args()


def scored_prompt_texts(prompts: list[str], tokenizer: Any, max_length: int, labels: list[str]) -> tuple[list[str], int]:
    """The text of the tokens domaintune scores for each prompt (its middle cut where too long),
    and how many prompts were cut."""
    from domaintune.data.encoding import cut_middle, tokenize_texts

    budget = max_length - max(len(ids) for ids in tokenize_texts(tokenizer, labels))
    texts, cut = [], 0
    for prompt, ids in zip(prompts, tokenize_texts(tokenizer, prompts)):
        kept = cut_middle(ids, budget)
        if kept != ids:
            cut += 1
            prompt = tokenizer.decode(kept)
        texts.append(prompt)
    return texts, cut


def write_task(folder: Path, texts: list[str], targets: list[int], labels: list[str]) -> None:
    """A local lm-eval task over a JSONL of the rendered prompts."""
    rows_path = folder / "rows.jsonl"
    with rows_path.open("w", encoding="utf-8") as out:
        for row, (text, target) in enumerate(zip(texts, targets)):
            out.write(json.dumps({"row": row, "text": text, "target": target}, ensure_ascii=False) + "\n")
    task = {
        "task": TASK_NAME,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(rows_path)}},
        "test_split": "test",
        "output_type": "multiple_choice",
        "doc_to_text": "text",  # a field name: lm-eval returns the field as is, no template
        "doc_to_choice": list(labels),
        "doc_to_target": "target",
        "target_delimiter": "",
        "num_fewshot": 0,
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
    }
    (folder / f"{TASK_NAME}.yaml").write_text(yaml.safe_dump(task, sort_keys=False), encoding="utf-8")


def token_mismatches(lm: Any, texts: list[str], tokenizer: Any, labels: list[str]) -> int:
    """(row, label) pairs where lm-eval's context + continuation tokens differ from
    domaintune's prompt + label tokens."""
    from domaintune.data.encoding import tokenize_texts

    label_ids = tokenize_texts(tokenizer, labels)
    mismatches = 0
    for text, prompt_ids in zip(texts, tokenize_texts(tokenizer, texts)):
        for label, ids in zip(labels, label_ids):
            context, continuation = lm._encode_pair(text, label)  # what lm-eval's requests encode to
            mismatches += context + continuation != prompt_ids + ids
    return mismatches


def main() -> None:
    args = parse_args()
    import datasets
    import lm_eval
    import torch
    import transformers
    from domaintune.config import build_config
    from domaintune.data.prepare import prepare_data
    from domaintune.evaluation.heldout import class_labels
    from domaintune.evaluation.scoring import predict, render_eval_set
    from domaintune.model import load_model, load_tokenizer, resolve_model
    from domaintune.plugins import call_hook, get_domain
    from domaintune.training.methods import cast_frozen_weights
    from lm_eval.api.registry import get_model
    from lm_eval.tasks import TaskManager

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    logging.getLogger("lm_eval").setLevel(logging.WARNING)

    # The held-out rows, exactly as `tune` gets them.
    domain = get_domain(args.domain)
    if domain.task_type != "classification":
        sys.exit(f"Domain {domain.name!r} is a {domain.task_type} domain; lm-eval's multiple_choice "
                 "cross-check needs a classification domain.")
    options: dict[str, Any] = {"domain": domain.name, "precision": args.precision}
    for name, value in (("data", args.data), ("eval_rows", args.eval_rows), ("eval_batch_size", args.batch_size)):
        if value is not None:
            options[name] = value
    config = build_config(dict(domain.defaults), options)
    train_set, eval_set, info = prepare_data(domain, config)
    model_path = resolve_model(config.model)
    tokenizer = load_tokenizer(model_path)
    formatter = call_hook("make_formatter", domain=domain)
    prompts, references = render_eval_set(eval_set, formatter, tokenizer, domain.name)
    labels = class_labels(domain, train_set, eval_set)
    targets = [labels.index(reference) for reference in references]
    texts, cut = scored_prompt_texts(prompts, tokenizer, config.max_length, labels)
    bf16 = args.precision == "bf16"
    n = len(prompts)
    print(f"domain {domain.name}: {n} held-out rows of {info['eval_source']}, labels {labels}, "
          f"max_length {config.max_length} ({cut} prompts cut in the middle), {args.precision}, "
          f"batch {config.eval_batch_size}, {torch.get_num_threads()} threads")
    print(f"model {model_path}")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, lm-eval {lm_eval.__version__}")

    # domaintune: the base model, scored as `tune` scores it.
    model = cast_frozen_weights(load_model(model_path), config).eval()
    ours = predict(model, tokenizer, domain, prompts, labels, [], config.max_length,
                   config.eval_batch_size, bf16)
    our_accuracy = sum(p == r for p, r in zip(ours.predictions, references)) / n
    del model

    # lm-eval: the same folder through its HF model, the same rows as a local task.
    lm = get_model("hf").create_from_arg_obj({
        "pretrained": model_path,
        "dtype": "bfloat16" if bf16 else "float32",
        "softmax_dtype": "float32",
        "device": "cpu",
        "batch_size": config.eval_batch_size,
        "add_bos_token": False,
    })
    with tempfile.TemporaryDirectory(prefix="lm_eval_crosscheck_") as folder:
        write_task(Path(folder), texts, targets, labels)
        mismatched = token_mismatches(lm, texts, tokenizer, labels)
        task_manager = TaskManager(include_path=folder, include_defaults=False)
        started = time.monotonic()
        results = lm_eval.simple_evaluate(
            model=lm, tasks=[TASK_NAME], task_manager=task_manager, num_fewshot=0,
            apply_chat_template=False, bootstrap_iters=0, log_samples=True,
        )
        lm_seconds = time.monotonic() - started
    assert results is not None
    lm_accuracy = float(results["results"][TASK_NAME]["acc,none"])
    samples = sorted(results["samples"][TASK_NAME], key=lambda s: s["doc_id"])
    log_likelihoods = [[float(resp[0]) for resp in s["filtered_resps"]] for s in samples]
    lm_predictions = [labels[max(range(len(labels)), key=scores.__getitem__)] for scores in log_likelihoods]

    agree = sum(a == b for a, b in zip(ours.predictions, lm_predictions))
    difference = abs(our_accuracy - lm_accuracy) * 100
    print(f"token check: {len(texts) * len(labels) - mismatched}/{len(texts) * len(labels)} (row, label) pairs "
          "encode to the same tokens in both")
    print(f"domaintune: accuracy {our_accuracy:.3f} ({ours.seconds:.1f} s scoring, predict, "
          f"{'bf16 autocast' if bf16 else 'fp32'})")
    print(f"lm-eval:    accuracy {lm_accuracy:.3f} ({lm_seconds:.1f} s simple_evaluate, hf model, "
          f"{'bfloat16' if bf16 else 'float32'})")
    print(f"agreement: {agree}/{n} rows get the same prediction")
    print("predicted: domaintune " + ", ".join(f"{label} {ours.predictions.count(label)}" for label in labels)
          + "; lm-eval " + ", ".join(f"{label} {lm_predictions.count(label)}" for label in labels)
          + "; references " + ", ".join(f"{label} {references.count(label)}" for label in labels))
    margins = sorted(sorted(scores)[-1] - sorted(scores)[-2] for scores in log_likelihoods)
    print(f"lm-eval's margin between the two likeliest labels: min {margins[0]:.4f}, "
          f"median {margins[len(margins) // 2]:.4f} nats")
    for i, (a, b) in enumerate(zip(ours.predictions, lm_predictions)):
        if a != b:
            scores = ", ".join(f"{label} {ll:.4f}" for label, ll in zip(labels, log_likelihoods[i]))
            print(f"  row {i}: domaintune {a!r}, lm-eval {b!r} (lm-eval log-likelihoods: {scores})")
    verdict = "within" if difference <= MAX_DIFFERENCE_POINTS else "NOT within"
    print(f"difference {difference:.1f} points: {verdict} {MAX_DIFFERENCE_POINTS:g} point")
    print(f"RESULT domaintune_accuracy={our_accuracy:.3f} lm_eval_accuracy={lm_accuracy:.3f} "
          f"difference={difference:.1f}")
    if difference > MAX_DIFFERENCE_POINTS:
        sys.exit(1)


if __name__ == "__main__":
    main()
