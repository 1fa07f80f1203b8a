"""Training-step levers against each other on the same batches in one process, timed in pairs.

    python bench/train_step_levers.py                        # 16 batches, 2 rounds, about 6 min
    python bench/train_step_levers.py --batches 2 --rounds 1   # smoke test

This vCPU drifts: a whole run moved 270 to 370 tokens/s from one process to the next, and
runs of 8 steps each taking turns still disagreed by 10%. So every batch is timed under each
setup back to back (in alternating order) and the figure is the median over batches of the
per-batch time ratio; timing one setup against itself this way gave 0.994 (quartiles
0.95-1.03).

A step is `tune`'s step outside Trainer, on the first batches `tune` trains on (Trainer's
length-grouped sampler over the legal overruling rows, 8 rows each, `LeftPadToLongest`):
parts of at most `max_forward_tokens` positions, `AnswerLossTrainer.compute_loss`
(answer-only loss) under bf16 autocast where native, the LoRA adapters' inputs uncast,
backward and AdamW. The setups, each adding one lever:

  sdpa     the model's SDPA; the shared prefix as a pass of its own whose KV cache rows
           continue; adapters on every decoder layer
  eager    eager attention (`training.attention` before the packed prefix)
  packed   the shared prefix in the rows' own pass (`training.packed_prefix`)
  upper    adapters on the upper half of the layers only (`RunConfig.adapter_layers`, as
           `tune` resolves it; a second copy of the model): `tune`'s step. It does less work
           per token, not the same work faster, so its quality at equal wall-clock is the
           train bench's to show (bench/README.md).

Last line: `RESULT` with each setup's median speed ratio to the one before it, and packed's
and upper's to sdpa.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_throughput  # noqa: E402  (the train bench's rows and pieces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(train_throughput.DEFAULT_DATA))
    parser.add_argument("--model", default=None)
    parser.add_argument("--batches", type=int, default=16, help="timed batches: the first ones tune trains on")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    import copy
    import tempfile

    import datasets
    import torch
    from domaintune.config import RunConfig
    from domaintune.data.encoding import IGNORE_INDEX
    from domaintune.precision import use_bf16
    from domaintune.settings import resolve_settings
    from domaintune.training.batches import LeftPadToLongest, split_by_positions, tokenize_dataset
    from domaintune.training.loss import AnswerLossTrainer
    from domaintune.training.methods import adapter_inputs_uncast, prepare_model
    from domaintune.training.packed_prefix import PACKED_PREFIX_ATTENTION, register_packed_prefix_attention
    from domaintune.training.totals import TokenCount
    from transformers import TrainingArguments

    pieces = train_throughput.load_pieces(argparse.Namespace(
        data=args.data, model=args.model, seed=0, eval_rows=100, train_rows=600, max_length=256,
    ))
    config = RunConfig(domain=train_throughput.DOMAIN, adapter_layers=1.0)
    upper_config = resolve_settings({"domain": train_throughput.DOMAIN}, for_run=False).config  # tune's
    rows = tokenize_dataset(
        datasets.Dataset.from_list(pieces["train_rows"]), pieces["formatter"], pieces["tokenizer"],
        config.max_length, train_throughput.DOMAIN,
    )
    upper_model = prepare_model(copy.deepcopy(pieces["model"]), upper_config).train()
    model = prepare_model(pieces["model"], config).train()
    optimizers = {
        id(each): torch.optim.AdamW([p for p in each.parameters() if p.requires_grad], lr=config.learning_rate)
        for each in (model, upper_model)
    }
    bf16 = use_bf16(config.precision)
    trainer = AnswerLossTrainer(
        model=model,
        args=TrainingArguments(
            output_dir=tempfile.gettempdir(), use_cpu=True, report_to="none", seed=config.seed,
            per_device_train_batch_size=config.batch_size, train_sampling_strategy="group_by_length",
            remove_unused_columns=False,
        ),
        train_dataset=rows, data_collator=LeftPadToLongest(pieces["tokenizer"].pad_token_id), tokens=TokenCount(),
    )
    # The first batches `tune` trains on: its sampler (length-grouped) and collator.
    batches = list(itertools.islice(trainer.get_train_dataloader(), args.batches))

    def step(model: torch.nn.Module, inputs: dict) -> None:
        parts = split_by_positions(inputs, config.max_forward_tokens or 10**9)
        answer_tokens = sum(int((part["labels"][:, 1:] != IGNORE_INDEX).sum()) for part in parts)
        for part in parts:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = trainer.compute_loss(model, dict(part), num_items_in_batch=answer_tokens)
            loss.backward()
        optimizers[id(model)].step()
        optimizers[id(model)].zero_grad(set_to_none=True)

    @contextlib.contextmanager
    def attending(model: torch.nn.Module, implementation: str) -> Iterator[torch.nn.Module]:
        model.get_base_model().set_attn_implementation(implementation)
        try:
            with adapter_inputs_uncast(model, config):
                yield model
        finally:
            model.get_base_model().set_attn_implementation("sdpa")

    register_packed_prefix_attention()
    setups: dict[str, Callable[[], contextlib.AbstractContextManager[torch.nn.Module]]] = {
        "sdpa": lambda: attending(model, "sdpa"),
        "eager": lambda: attending(model, "eager"),
        "packed": lambda: attending(model, PACKED_PREFIX_ATTENTION),
        "upper": lambda: attending(upper_model, PACKED_PREFIX_ATTENTION),
    }
    seconds: dict[str, list[float]] = {name: [] for name in setups}
    for name, setup in setups.items():
        with setup() as stepped:
            step(stepped, batches[0])  # warm-up, untimed
    turn = 0
    for round_ in range(args.rounds):
        for batch in batches:
            for name in (list(setups) if turn % 2 == 0 else list(setups)[::-1]):
                with setups[name]() as stepped:
                    started = time.perf_counter()
                    step(stepped, batch)
                    seconds[name].append(time.perf_counter() - started)
            turn += 1
        tokens = sum(int(batch["attention_mask"].sum()) for batch in batches)
        print(f"round {round_ + 1}: " + ", ".join(
            f"{name} {tokens / sum(times[-len(batches):]):.1f} tokens/s" for name, times in seconds.items()
        ), flush=True)

    def speedup(name: str, over: str) -> float:
        return statistics.median(base / new for base, new in zip(seconds[over], seconds[name]))

    names = list(setups)
    ratios = {f"{name}_vs_{before}": speedup(name, before) for before, name in zip(names, names[1:])}
    ratios["packed_vs_sdpa"] = speedup("packed", "sdpa")
    ratios["upper_vs_sdpa"] = speedup("upper", "sdpa")
    print("RESULT " + " ".join(f"{key}={value:.3f}" for key, value in ratios.items()))


if __name__ == "__main__":
    main()
