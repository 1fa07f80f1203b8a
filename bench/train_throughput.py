"""Training throughput, memory and held-out loss: the common recipe, TRL's defaults, and ours.

    python bench/train_throughput.py                      # all setups, 120 s of training each
    python bench/train_throughput.py --budget-seconds 5   # smoke test (figures meaningless)
    python bench/train_throughput.py --setups a,c         # a subset (the RESULT line needs a-d)

Every setup trains the same default model on the same rows (seeded split of --data) for the
same wall-clock budget, each in its own subprocess so that its peak RSS is its own:

  base  no training: the held-out loss of the untuned model, for reference
  a     the common recipe: HF Trainer, full fine-tune, every row padded to max length, batch 2,
        lr 2e-5, fp32, loss on every real token (labels built from the attention mask, not by
        DataCollatorForLanguageModeling, which masks every eos because pad == eos here)
  b     TRL SFTTrainer with its defaults: LoRA (peft LoraConfig() defaults), packing (bfd,
        padding-free), batch 8, lr 2e-5, gradient checkpointing, bf16; prompt-completion
        conversational rows; only use_cpu=True, max_length and the budget are set
  c     domaintune in 1 process: tokenize_dataset, prepare_model, train, with the settings
        `tune --domain legal` resolves (LoRA r16 on the linear layers of the upper half of the
        decoder's layers, lr 2e-4, batch 8, answer-only loss, bf16 where native);
        --adapter-layers 1 puts adapters on every layer
  d     the same pieces under `torchrun --nproc_per_node 2`, one thread per process; if
        torch.distributed cannot start, (d) is reported as (c)'s layout with a note

Real tokens are counted the same way for every setup: a forward pre-hook on the model sums the
attention mask (the token count where there is none: TRL's padding-free rows hold no padding)
of every training forward, i.e. of the batches the optimizer steps consumed; under torchrun the
ranks' counts are added up. The held-out loss is `heldout_loss` below, on the same rows for
every setup: mean cross-entropy over the answer tokens as domaintune labels them (the label,
<|im_end|> and the newline after it), model in eval mode, fp32, the domain's system prompt.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import random
import subprocess
import sys
import tempfile
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
SETUPS = {
    "base": "untuned model (held-out loss only)",
    "a": "common recipe: Trainer, full FT, pad to max length, batch 2, lr 2e-5, fp32",
    "b": "TRL SFTTrainer defaults: LoRA (LoraConfig()), packing (bfd, padding-free), batch 8, lr 2e-5",
    "c": "domaintune, 1 process",
    "d": "domaintune, torchrun 2 processes x 1 thread",
}


# Shared by every setup ---------------------------------------------------------------------

def load_rows(args: argparse.Namespace) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """A seeded split of the data file: held-out rows first, then training rows."""
    path = Path(args.data)
    rows = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                row = json.loads(line)
                rows.append({"prompt": row["prompt"], "completion": row["completion"]})
    random.Random(args.seed).shuffle(rows)
    if len(rows) < args.eval_rows + args.train_rows:
        raise SystemExit(
            f"{path} has {len(rows)} rows; --eval-rows {args.eval_rows} + --train-rows "
            f"{args.train_rows} need more."
        )
    return rows[args.eval_rows:args.eval_rows + args.train_rows], rows[:args.eval_rows]


def load_pieces(args: argparse.Namespace) -> dict[str, Any]:
    """Model, tokenizer, formatter and rows, loaded the same way for every setup."""
    import transformers
    from domaintune.default_plugins.formatting import make_formatter
    from domaintune.model import default_model_path, load_model, load_tokenizer
    from domaintune.plugins import get_domain

    transformers.set_seed(args.seed)  # LoRA weights are initialised before any Trainer seeds
    domain = get_domain(DOMAIN)
    path = str(args.model or default_model_path())
    tokenizer = load_tokenizer(path)
    model = load_model(path)
    train_rows, eval_rows = load_rows(args)
    non_embedding = sum(p.numel() for name, p in model.named_parameters() if "embed_tokens" not in name)
    return {
        "domain": domain,
        "formatter": make_formatter(domain),
        "tokenizer": tokenizer,
        "model": model,
        "train_rows": train_rows,
        "eval_rows": eval_rows,
        "non_embedding_params": non_embedding,
    }


def conversations(formatter: Any, rows: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    return formatter({"prompt": [r["prompt"] for r in rows], "completion": [r["completion"] for r in rows]})


def heldout_loss(
    model: Any, tokenizer: Any, formatter: Any, rows: list[dict[str, str]], max_length: int,
    batch_size: int = 16,
) -> dict[str, float]:
    """Mean cross-entropy over the answer tokens of the held-out rows (and over the label's
    first token alone: the end tokens are near-free and flatter the full figure)."""
    import torch
    from domaintune.data.encoding import IGNORE_INDEX, encode_for_training

    encoded = encode_for_training(conversations(formatter, rows), tokenizer, max_length)
    total = label_total = 0.0
    count = label_count = 0
    model.eval()
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            ids = encoded["input_ids"][start:start + batch_size]
            labs = encoded["labels"][start:start + batch_size]
            width = max(map(len, ids))
            input_ids = torch.full((len(ids), width), tokenizer.pad_token_id, dtype=torch.long)
            labels = torch.full((len(ids), width), IGNORE_INDEX, dtype=torch.long)
            mask = torch.zeros((len(ids), width), dtype=torch.long)
            for i, (row, lab) in enumerate(zip(ids, labs)):
                input_ids[i, width - len(row):] = torch.tensor(row)
                labels[i, width - len(row):] = torch.tensor(lab)
                mask[i, width - len(row):] = 1
            # Left padding puts every answer in the last columns, so the 49k-wide output layer
            # runs on those only (a full-width fp32 logits tensor would dominate peak memory).
            keep = int((labels != IGNORE_INDEX).sum(dim=1).max()) + 1
            logits = model(
                input_ids=input_ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                use_cache=False, logits_to_keep=keep,
            ).logits.float()
            targets = labels[:, width - keep + 1:]  # the logits at position t predict token t + 1
            losses = torch.nn.functional.cross_entropy(
                logits[:, :-1].flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX, reduction="none"
            ).view_as(targets)
            answer = targets != IGNORE_INDEX
            total += float(losses[answer].sum())
            count += int(answer.sum())
            first = answer.int().argmax(dim=1)  # the first answer position of each row
            label_total += float(losses[torch.arange(len(ids)), first].sum())
            label_count += len(ids)
    return {"completion_loss": total / count, "label_loss": label_total / label_count, "answer_tokens": count}


class TokenCounter:
    """Counts the real tokens of every training forward (a pre-hook on the model). Ours may
    run a batch as one packed row (the shared prefix, then each row's own columns:
    `domaintune.training.packed_prefix`); its layout carries the batch's attention mask, which
    counts each row's tokens, its prefix included, as the unpacked forward's mask does."""

    def __init__(self, model: Any) -> None:
        self.tokens = 0
        self.forwards = 0
        self.handle = model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        import torch

        if not module.training or not torch.is_grad_enabled():
            return
        packed = kwargs.get("packed_rows")
        mask = packed.attention_mask if packed is not None else kwargs.get("attention_mask")
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.tokens += int(mask.sum()) if mask is not None and mask.dim() == 2 else int(ids.numel())
        self.forwards += 1


def budget_callback(seconds: float) -> Any:
    """Stops Trainer at the first step end past the budget (what domaintune's train() does)."""
    from transformers import TrainerCallback

    class StopAtBudget(TrainerCallback):
        started = time.monotonic()
        stopped = False

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
            if time.monotonic() - self.started >= seconds:
                control.should_training_stop = self.stopped = True
            return control

    return StopAtBudget()


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# The setups (each runs in its own process) ------------------------------------------------

def setup_base(args: argparse.Namespace, pieces: dict[str, Any], workdir: Path) -> dict[str, Any]:
    return {"method": "none", "precision": "fp32", "steps": 0, "tokens": 0, "train_seconds": 0.0}


def setup_common(args: argparse.Namespace, pieces: dict[str, Any], workdir: Path) -> dict[str, Any]:
    import datasets
    from transformers import Trainer, TrainingArguments, default_data_collator

    tokenizer, model = pieces["tokenizer"], pieces["model"]
    texts = [tokenizer.apply_chat_template(c, tokenize=False) for c in conversations(pieces["formatter"], pieces["train_rows"])]
    encoded = tokenizer(
        texts, add_special_tokens=False, padding="max_length", truncation=True, max_length=args.max_length
    )
    encoded["labels"] = [
        [t if m else -100 for t, m in zip(ids, mask)]
        for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"])
    ]
    dataset = datasets.Dataset.from_dict(dict(encoded))
    counter = TokenCounter(model)
    stopper = budget_callback(args.budget_seconds)
    trainer = Trainer(
        model=model,
        args=TrainingArguments(
            output_dir=str(workdir), per_device_train_batch_size=2, learning_rate=2e-5,
            num_train_epochs=args.epochs, logging_steps=10, save_strategy="no", report_to="none",
            use_cpu=True, seed=args.seed,
        ),
        train_dataset=dataset,
        data_collator=default_data_collator,
        callbacks=[stopper],
    )
    stopper.started = started = time.monotonic()
    output = trainer.train()
    seconds = time.monotonic() - started
    return {
        "method": "full", "precision": "fp32", "steps": output.global_step,
        "epochs": float(trainer.state.epoch or 0), "tokens": counter.tokens, "train_seconds": seconds,
        "stopped_by_budget": stopper.stopped,
        "padding_fraction": 1 - sum(map(sum, encoded["attention_mask"])) / (len(texts) * args.max_length),
    }


def setup_trl(args: argparse.Namespace, pieces: dict[str, Any], workdir: Path) -> dict[str, Any]:
    import datasets
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    model = pieces["model"]
    rows = [
        {"prompt": c[:-1], "completion": c[-1:]}
        for c in conversations(pieces["formatter"], pieces["train_rows"])
    ]
    counter = TokenCounter(model)
    stopper = budget_callback(args.budget_seconds)
    config = SFTConfig(
        output_dir=str(workdir), packing=True, max_length=args.max_length, use_cpu=True,
        num_train_epochs=args.epochs, save_strategy="no", report_to="none", seed=args.seed,
    )
    trainer = SFTTrainer(
        model=model, args=config, train_dataset=datasets.Dataset.from_list(rows),
        processing_class=pieces["tokenizer"], peft_config=LoraConfig(), callbacks=[stopper],
    )
    stopper.started = started = time.monotonic()
    output = trainer.train()
    seconds = time.monotonic() - started
    return {
        "method": "lora", "precision": "bf16" if config.bf16 else "fp32", "steps": output.global_step,
        "epochs": float(trainer.state.epoch or 0), "tokens": counter.tokens, "train_seconds": seconds,
        "stopped_by_budget": stopper.stopped,
        "trainable_params": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        "lora": f"r={trainer.model.peft_config['default'].r} on {sorted(trainer.model.peft_config['default'].target_modules)}",
        "gradient_checkpointing": config.gradient_checkpointing,
    }


def setup_ours(args: argparse.Namespace, pieces: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """(c) and (d): domaintune's own pieces; under torchrun each rank runs this."""
    import datasets
    from domaintune.settings import resolve_settings
    from domaintune.training.distributed import start_processes
    from domaintune.precision import use_bf16
    from domaintune.training.batches import tokenize_dataset
    from domaintune.training.methods import prepare_model
    from domaintune.training.train import train

    processes = start_processes()
    # The settings `tune --domain legal` resolves (domaintune.settings), with the bench's budget.
    config = resolve_settings({
        "domain": DOMAIN, "time_budget_minutes": args.budget_seconds / 60, "max_length": args.max_length,
        "epochs": args.epochs, "seed": args.seed, "adapter_layers": args.adapter_layers,
    }, for_run=False).config
    train_set = tokenize_dataset(
        datasets.Dataset.from_list(pieces["train_rows"]), pieces["formatter"], pieces["tokenizer"],
        config.max_length, DOMAIN,
    )
    counter = TokenCounter(pieces["model"])
    model = prepare_model(pieces["model"], config)
    pieces["model"] = model
    started = time.monotonic()
    result = train(model, pieces["tokenizer"], train_set, config, workdir / "checkpoints")
    seconds = time.monotonic() - started
    ranks = processes.gather({"tokens": counter.tokens, "rss": peak_rss_mib()})
    return {
        "method": config.method, "adapter_layers": config.adapter_layers, "precision": "bf16" if use_bf16(config.precision) else "fp32",
        "steps": result.steps, "epochs": result.epochs, "tokens": sum(r["tokens"] for r in ranks),
        # train()'s own count (its collator's, summed over processes), for comparison.
        "train_result_tokens": result.tokens, "train_seconds": seconds,
        "stopped_by_budget": result.stopped_by_budget, "world": processes.world,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "rank_rss_mib": [r["rss"] for r in ranks], "is_main": processes.is_main,
        # Where train()'s seconds went, as `tune` writes it to metrics.json (train.time_split).
        "time_split": result.time_split,
    }


RUNNERS = {"base": setup_base, "a": setup_common, "b": setup_trl, "c": setup_ours, "d": setup_ours}


def run_child(args: argparse.Namespace) -> None:
    """One setup, in this process (or this torchrun rank); writes its result as JSON."""
    import torch

    pieces = load_pieces(args)
    with tempfile.TemporaryDirectory(prefix=f"bench-{args.setup}-") as workdir:
        result = RUNNERS[args.setup](args, pieces, Path(workdir))
    if not result.pop("is_main", True):
        return  # another rank: process 0 reports
    training_peak = peak_rss_mib()  # before scoring, so that it is training's peak
    result.update(heldout_loss(
        pieces["model"], pieces["tokenizer"], pieces["formatter"], pieces["eval_rows"], args.max_length
    ))
    ranks = result.pop("rank_rss_mib", None)
    if ranks and len(ranks) > 1:
        result["rank_rss_mib"] = ranks
    result["peak_rss_mib"] = sum(ranks) if ranks and len(ranks) > 1 else training_peak
    result.update(
        setup=args.setup, threads=torch.get_num_threads(), world=result.get("world", 1),
        non_embedding_params=pieces["non_embedding_params"], train_rows=len(pieces["train_rows"]),
        eval_rows=len(pieces["eval_rows"]),
    )
    result["tokens_per_second"] = result["tokens"] / result["train_seconds"] if result["train_seconds"] else 0.0
    Path(args.result_file).write_text(json.dumps(result), encoding="utf-8")


# The parent: measure the machine, run each setup, compare ---------------------------------

def matmul_gflops(dtype_name: str, size: int = 1024, threads: int = 2, seconds: float = 2.0) -> float:
    import torch

    torch.set_num_threads(threads)
    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    for _ in range(3):
        torch.matmul(a, b)
    runs, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        torch.matmul(a, b)
        runs += 1
    return 2 * size**3 * runs / (time.monotonic() - started) / 1e9


def child_command(args: argparse.Namespace, setup: str, result_file: Path) -> tuple[list[str], dict[str, str]]:
    forwarded = [
        "--setup", setup, "--result-file", str(result_file), "--data", str(args.data),
        "--train-rows", str(args.train_rows), "--eval-rows", str(args.eval_rows), "--seed", str(args.seed),
        "--max-length", str(args.max_length), "--budget-seconds", str(args.budget_seconds),
        "--epochs", str(args.epochs),
    ] + (["--model", args.model] if args.model else []) + (
        ["--adapter-layers", str(args.adapter_layers)] if args.adapter_layers is not None else []
    )
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    if setup == "d":
        env["OMP_NUM_THREADS"] = "1"  # 2 processes x 1 thread on the 2 cores
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        return launcher + [__file__, *forwarded], env
    return [sys.executable, __file__, *forwarded], env


def distributed_usable() -> str | None:
    """None if torchrun with gloo can start here, else why not."""
    import torch.distributed as dist

    if not dist.is_available():
        return "torch.distributed is not available in this torch build"
    if not dist.is_gloo_available():
        return "torch.distributed has no gloo backend"
    return None


def run_setup(args: argparse.Namespace, setup: str, logs: Path) -> tuple[dict[str, Any] | None, str]:
    result_file = logs / f"{setup}.json"
    log_file = logs / f"{setup}.log"
    command, env = child_command(args, setup, result_file)
    print(f"[{setup}] {SETUPS[setup]} ... (log: {log_file})", flush=True)
    started = time.monotonic()
    with log_file.open("w", encoding="utf-8") as log:
        try:
            code = subprocess.run(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                timeout=args.budget_seconds + 900,
            ).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    if code != 0 or not result_file.is_file():
        tail = "\n    ".join(log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-15:])
        return None, f"exit {code} after {time.monotonic() - started:.0f} s; last lines of {log_file}:\n    {tail}"
    return json.loads(result_file.read_text(encoding="utf-8")), ""


def flops_per_token(result: dict[str, Any]) -> tuple[float, str]:
    # Full FT: forward 2N + backward 4N. LoRA: forward 2N + activation gradients 2N over the
    # layers the backward pass reaches, the share ``adapter_layers`` from the top (the frozen
    # weights get no weight gradient; the adapters' own cost is negligible). N excludes the
    # (tied) embedding: domaintune's loss runs the output layer on the answer positions only.
    if result["method"] == "full":
        return 6, "6 x N"
    share = result.get("adapter_layers", 1.0)
    return 2 + 2 * share, "4 x N" if share == 1 else f"(2 + 2 x {share:g}) x N"


def best_layout(one: dict[str, Any] | None, two: dict[str, Any] | None) -> dict[str, Any] | None:
    """(c) or (d): the layout a user of this machine should run. Both processes share this
    machine's memory, each with its own copy of the runtime and the model (about 0.8 GB before
    the first step), so (d) wins only when its tokens/s per MiB of peak RSS is at least (c)'s:
    its speed-up must pay for its memory."""
    if one is None or two is None:
        return one or two
    def per_mib(result: dict[str, Any]) -> float:
        return result["tokens_per_second"] / result["peak_rss_mib"]
    return two if per_mib(two) >= per_mib(one) else one


def run_parent(args: argparse.Namespace) -> None:
    import torch

    setups = [s.strip() for s in args.setups.split(",") if s.strip()]
    unknown = [s for s in setups if s not in SETUPS]
    if unknown:
        raise SystemExit(f"--setups: unknown {unknown}; choose from {', '.join(SETUPS)}")
    if "b" in setups and importlib.util.find_spec("trl") is None:
        raise SystemExit("Setup b needs TRL: pip install -e '.[bench]' (or drop b from --setups).")
    logs = Path(args.log_dir or tempfile.mkdtemp(prefix="domaintune-train-bench-"))
    logs.mkdir(parents=True, exist_ok=True)
    print(f"data: {args.data} ({args.train_rows} train rows, {args.eval_rows} held-out rows, seed {args.seed})")
    print(f"max length {args.max_length}, training budget {args.budget_seconds:g} s per setup, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__}")
    peaks = {name: matmul_gflops(name) for name in ("float32", "bfloat16")}
    print(f"matmul 1024x1024, 2 threads: fp32 {peaks['float32']:.0f} GFLOP/s, bf16 {peaks['bfloat16']:.0f} GFLOP/s")

    results: dict[str, dict[str, Any]] = {}
    for setup in setups:
        if setup == "d":
            reason = distributed_usable()
            result, error = (None, reason) if reason else run_setup(args, setup, logs)
            if result is None:
                print(f"[d] NOTE: torchrun did not run ({error}); (d) falls back to (c)'s layout")
                if "c" not in results:
                    results["c"], error = run_setup(args, "c", logs)
                if results.get("c"):
                    result = dict(results["c"], setup="d", note="torchrun failed: (c)'s layout")
        else:
            result, error = run_setup(args, setup, logs)
        if result is None:
            print(f"[{setup}] FAILED: {error}")
            continue
        results[setup] = result
        print(f"[{setup}] {json.dumps(result, sort_keys=True)}", flush=True)
        if setup != "base" and not result.get("stopped_by_budget"):
            print(f"[{setup}] WARNING: training ended before the budget ({result['epochs']:.2f} epochs); "
                  "raise --epochs or --train-rows for an equal-time comparison")

    print()
    header = f"{'setup':<5} {'tok/s':>7} {'x (a)':>6} {'tokens':>7} {'steps':>5} {'train s':>7} " \
             f"{'RSS MiB':>7} {'x (a)':>6} {'loss':>6} {'-(a)':>6} {'label':>6} {'prec':>4}  description"
    print(header)
    common = results.get("a")
    for setup, r in results.items():
        speed = r["tokens_per_second"] / common["tokens_per_second"] if common and setup != "base" else math.nan
        rss = r["peak_rss_mib"] / common["peak_rss_mib"] if common else math.nan
        delta = r["completion_loss"] - common["completion_loss"] if common else math.nan
        print(f"{setup:<5} {r['tokens_per_second']:>7.1f} {speed:>6.2f} {r['tokens']:>7} {r['steps']:>5} "
              f"{r['train_seconds']:>7.1f} {r['peak_rss_mib']:>7.0f} {rss:>6.2f} {r['completion_loss']:>6.3f} {delta:>+6.3f} "
              f"{r['label_loss']:>6.3f} {r['precision']:>4}  {r.get('note', SETUPS[setup])}")
    print("loss: held-out mean cross-entropy over the answer tokens (label, <|im_end|>, newline); "
          "label: over the label's first token alone")
    if "d" in results and len(results["d"].get("rank_rss_mib", [])) > 1:
        print(f"(d) RSS is the sum of the ranks' peaks: {[round(x) for x in results['d']['rank_rss_mib']]} MiB")

    print()
    for setup, r in results.items():
        if setup == "base":
            continue
        k, formula = flops_per_token(r)
        gflops = k * r["non_embedding_params"] * r["tokens_per_second"] / 1e9
        print(f"{setup}: {formula} x tok/s = {k:g} x {r['non_embedding_params'] / 1e6:.1f}M x "
              f"{r['tokens_per_second']:.1f} = {gflops:.1f} GFLOP/s: {gflops / peaks['float32']:.1%} of the "
              f"fp32 matmul peak, {gflops / peaks['bfloat16']:.1%} of the bf16 peak (ran {r['precision']})")

    ours = best_layout(results.get("c"), results.get("d"))
    trl = results.get("b")
    if ours:
        print(f"ours = ({ours['setup']}), the best layout for this machine: (d) only when its tokens/s "
              "per MiB of peak RSS is at least (c)'s, since each process holds its own runtime and model")
        if {"c", "d"} <= results.keys():
            c, d = results["c"], results["d"]
            print(f"(d) over (c): {d['tokens_per_second'] / c['tokens_per_second']:.2f}x tokens/s for "
                  f"{d['peak_rss_mib'] / c['peak_rss_mib']:.2f}x peak RSS")

    def ratio(x: float | None, y: float | None) -> str:
        return f"{x / y:.2f}" if x is not None and y else "nan"

    speed_common = ratio(ours and ours["tokens_per_second"], common and common["tokens_per_second"])
    speed_trl = ratio(ours and ours["tokens_per_second"], trl and trl["tokens_per_second"])
    delta = f"{ours['completion_loss'] - common['completion_loss']:.3f}" if ours and common else "nan"
    rss = ratio(ours and ours["peak_rss_mib"], common and common["peak_rss_mib"])
    print(f"RESULT speedup_vs_common={speed_common} speedup_vs_trl={speed_trl} loss_delta={delta} rss_ratio={rss}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="JSONL with prompt and completion fields")
    parser.add_argument("--model", default=None, help="model folder; default: domaintune's embedded default")
    parser.add_argument("--train-rows", type=int, default=600)
    parser.add_argument("--eval-rows", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--budget-seconds", type=float, default=120.0, help="training wall-clock per setup")
    parser.add_argument("--epochs", type=float, default=3.0,
                        help="epoch cap for every setup (TrainingArguments' default); the budget should end training first")
    parser.add_argument("--adapter-layers", type=float, default=None,
                        help="(c) and (d): share of the decoder layers with adapters; default: domaintune's")
    parser.add_argument("--setups", default="base,a,b,c,d", help="comma-separated: " + ", ".join(SETUPS))
    parser.add_argument("--log-dir", default=None, help="where each setup's log and result go; default: a temp folder")
    parser.add_argument("--setup", choices=sorted(SETUPS), help=argparse.SUPPRESS)  # child process
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        run_child(args)
    else:
        run_parent(args)


if __name__ == "__main__":
    main()
