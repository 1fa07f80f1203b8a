"""Label log-likelihoods from batched, prefix-shared scoring equal a plain one-row-at-a-time
computation."""

from __future__ import annotations

import pytest
import torch
from domaintune.data.encoding import tokenize_texts
from domaintune import prefix as prefixes
from domaintune.evaluation import scoring as evaluation
from transformers import AutoModelForCausalLM, AutoTokenizer

SYSTEM = "<|im_start|>system\nYou are a careful analyst. Answer with exactly one word please.<|im_end|>\n"
PROMPTS = [
    f"{SYSTEM}<|im_start|>user\nIs this clause about {topic}?<|im_end|>\n<|im_start|>assistant\n"
    for topic in ("governing law", "the term", "a licence granted to affiliates of the licensee", "audits")
]
LABELS = ["yes", "no", "maybe not"]  # one label of several tokens: its own pass per row


def reference_scores(model, tokenizer, prompts: list[str], labels: list[str]) -> list[list[float]]:  # noqa: ANN001
    """Unbatched, unpadded, whole-sequence forward passes: the definition being implemented."""
    scores = []
    for prompt_ids in tokenize_texts(tokenizer, prompts):
        row = []
        for label_ids in tokenize_texts(tokenizer, labels):
            ids = torch.tensor([prompt_ids + label_ids])
            with torch.inference_mode():
                log_probs = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
            start = len(prompt_ids) - 1
            row.append(sum(float(log_probs[start + j, token]) for j, token in enumerate(label_ids)))
        scores.append(row)
    return scores


@pytest.mark.parametrize("shared_prefix", [True, False])
def test_batched_scores_equal_the_plain_computation(
    tiny_model: str, monkeypatch: pytest.MonkeyPatch, shared_prefix: bool
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    prefix = len(tokenize_texts(tokenizer, [SYSTEM])[0])
    assert prefix >= prefixes.MIN_SHARED_PREFIX  # so the shared-prefix path really runs
    if not shared_prefix:
        monkeypatch.setattr(prefixes, "MIN_SHARED_PREFIX", 10**6)
    got = evaluation.label_log_likelihoods(model, tokenizer, PROMPTS, LABELS, 512, 3, lambda n: None)
    expected = reference_scores(model, tokenizer, PROMPTS, LABELS)
    assert [x for row in got for x in row] == pytest.approx([x for row in expected for x in row], abs=1e-4)
    assert evaluation.score_labels(model, tokenizer, PROMPTS, LABELS, 512, 3, lambda n: None) == [
        LABELS[max(range(3), key=row.__getitem__)] for row in expected
    ]


@pytest.mark.parametrize("shared_prefix", [True, False])
def test_batched_greedy_answers_equal_one_prompt_at_a_time(
    tiny_model: str, monkeypatch: pytest.MonkeyPatch, shared_prefix: bool
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    if not shared_prefix:
        monkeypatch.setattr(prefixes, "MIN_SHARED_PREFIX", 10**6)
    expected = []
    for prompt_ids in tokenize_texts(tokenizer, PROMPTS):
        with torch.inference_mode():
            output = model.generate(
                input_ids=torch.tensor([prompt_ids]), max_new_tokens=12, do_sample=False,
                pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
            )
        expected.append(tokenizer.decode(output[0, len(prompt_ids):], skip_special_tokens=True).strip())
    got = evaluation.generate_answers(model, tokenizer, PROMPTS, 512, 12, 3, lambda n: None)
    assert got == expected
    assert len(set(got)) > 1  # the prompts' own tokens reached the answers
