"""Did fine-tuning damage what the model knew outside its domain? A small general-knowledge
set (``general/general_knowledge.jsonl``) scored the same way before and after."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from domaintune.data.encoding import tokenize_texts
from domaintune.evaluation.scoring import left_padded
from domaintune.positions import last_positions

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

GENERAL_KNOWLEDGE = Path(__file__).parent / "general" / "general_knowledge.jsonl"


def general_knowledge_accuracy(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, bf16: bool, path: Path = GENERAL_KNOWLEDGE
) -> tuple[float, int]:
    """Share of questions whose right completion is the more likely one, and the number of
    questions. Plain text, no chat template: this probes knowledge, not instruction following."""
    import torch

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]
    contexts = tokenize_texts(tokenizer, [row["context"] for row in rows])
    sequences, choice_spans = [], []
    for context, row in zip(contexts, rows):
        for choice in tokenize_texts(tokenizer, row["choices"]):
            sequences.append(context + choice)
            choice_spans.append(choice)
    inputs = left_padded(sequences, tokenizer.pad_token_id, model.device)
    longest = max(len(choice) for choice in choice_spans)
    model.eval()
    with torch.inference_mode(), torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = model(**inputs, use_cache=False, logits_to_keep=last_positions(longest + 1, model.device)).logits
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    scores = []
    for row_log_probs, choice in zip(log_probs, choice_spans):
        # The last len(choice) tokens are the choice; each is predicted one position earlier.
        predicting = row_log_probs[-len(choice) - 1 : -1]
        scores.append(sum(float(predicting[j, token]) for j, token in enumerate(choice)))
    right = 0
    position = 0
    for row in rows:
        n = len(row["choices"])
        row_scores = scores[position : position + n]
        right += max(range(n), key=row_scores.__getitem__) == row["answer"]
        position += n
    return right / len(rows), len(rows)
