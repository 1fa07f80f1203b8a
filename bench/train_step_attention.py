"""Training steps with eager attention (`domaintune.training.attention`) against SDPA, on the
same batches in one process, taking turns, so that a drifting vCPU slows both alike.

    python bench/train_step_attention.py                 # 8 timed batches, 3 rounds, about 3 min
    python bench/train_step_attention.py --batches 2 --rounds 1   # smoke test

A step is `tune`'s step outside Trainer: 8 length-grouped rows of the legal overruling file
collated by `LeftPadToLongest` (the shared prefix run once), parts of at most
`max_forward_tokens` positions, `AnswerLossTrainer.compute_loss` under bf16 autocast where native, the
LoRA adapters' inputs uncast, backward and AdamW. Last line
`RESULT eager_speedup=<median over rounds of eager tokens/s over SDPA's> eager_tokens_per_s=<median>`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_throughput  # noqa: E402  (the train bench's rows and pieces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(train_throughput.DEFAULT_DATA))
    parser.add_argument("--model", default=None)
    parser.add_argument("--batches", type=int, default=8, help="timed batches a round and setup")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import contextlib
    import tempfile

    import datasets
    import torch
    from domaintune.config import RunConfig
    from domaintune.data.encoding import IGNORE_INDEX
    from domaintune.precision import use_bf16
    from domaintune.training.attention import training_attention
    from domaintune.training.batches import LeftPadToLongest, split_by_positions, tokenize_dataset
    from domaintune.training.loss import AnswerLossTrainer
    from domaintune.training.methods import adapter_inputs_uncast, prepare_model
    from domaintune.training.totals import TokenCount
    from transformers import TrainingArguments

    pieces = train_throughput.load_pieces(argparse.Namespace(
        data=args.data, model=args.model, seed=0, eval_rows=100, train_rows=600, max_length=256,
    ))
    config = RunConfig(domain=train_throughput.DOMAIN)
    rows = tokenize_dataset(
        datasets.Dataset.from_list(pieces["train_rows"]), pieces["formatter"], pieces["tokenizer"],
        config.max_length, train_throughput.DOMAIN,
    )
    model = prepare_model(pieces["model"], config).train()
    collate = LeftPadToLongest(pieces["tokenizer"].pad_token_id)
    order = sorted(range(len(rows)), key=lambda i: rows[i]["length"])  # length-grouped, as Trainer
    batches = [[rows[i] for i in order[start:start + config.batch_size]]
               for start in range(0, len(order), len(order) // (args.batches + 1))][: args.batches + 1]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)
    bf16 = use_bf16(config.precision)

    # The loss is tune's own (the shared prefix's cache, the output layer on answer positions).
    trainer = AnswerLossTrainer(
        model=model, args=TrainingArguments(output_dir=tempfile.gettempdir(), use_cpu=True, report_to="none"),
        tokens=TokenCount(),
    )

    def step(batch: list[dict]) -> int:
        inputs = collate(batch)
        parts = split_by_positions(inputs, config.max_forward_tokens or 10**9)
        answer_tokens = sum(int((part["labels"][:, 1:] != IGNORE_INDEX).sum()) for part in parts)
        for part in parts:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = trainer.compute_loss(model, dict(part), num_items_in_batch=answer_tokens)
            loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return int(inputs["attention_mask"].sum())

    setups = {"sdpa": contextlib.nullcontext, "eager": lambda: training_attention(model, config.max_length)}
    rates: dict[str, list[float]] = {name: [] for name in setups}
    with adapter_inputs_uncast(model, config):
        step(batches[0])  # warm-up, untimed
        for round_ in range(args.rounds):
            for name, attention in setups.items():
                with attention():
                    started, tokens = time.perf_counter(), sum(step(batch) for batch in batches[1:])
                rates[name].append(tokens / (time.perf_counter() - started))
                print(f"round {round_ + 1} {name:5s}: {rates[name][-1]:6.1f} tokens/s ({tokens} tokens)", flush=True)
    ratios = [eager / sdpa for eager, sdpa in zip(rates["eager"], rates["sdpa"])]
    print(f"RESULT eager_speedup={statistics.median(ratios):.2f} eager_tokens_per_s={statistics.median(rates['eager']):.1f}")


if __name__ == "__main__":
    main()
