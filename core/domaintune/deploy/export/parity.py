"""The parity check: does an exported model, reloaded by an independent reader, answer the
run's held-out prompts as the run's tuned model does, and does it stop?

Both models answer every prompt the run scored (predictions.jsonl) greedily, one prompt at a
time, so that where an answer stops is never hidden by padding. The reference stops on the
end-of-turn token of the run's chat template; the export stops wherever its own files say
(generation config, GGUF eos), which is how a wrong eos shows up as an answer that never
ends. The logits of both are compared on the reference's answers, teacher-forced.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domaintune.errors import ExportError, ParityError
from domaintune.files import write_json_atomic
from domaintune.positions import last_positions
from domaintune.progress import Reporter

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from domaintune.deploy.runmodel import RunModel

MIN_AGREEMENT = 0.99
"""Share of rows on which a lossless export (merged, f16) must answer as the tuned model does."""
EXACT_KINDS = ("merged", "f16")
"""Exports held to MIN_AGREEMENT and to the same labels; others (q8_0) have theirs reported."""
MAX_EXAMPLES = 5


@dataclass
class Parity:
    """What parity.json holds."""

    export: str
    kind: str
    rows: int
    agreement: float
    """Share of rows whose greedy answer (token ids, end-of-turn token included) is the tuned model's."""
    max_logit_difference: float
    """Largest absolute logit difference over every position that predicts an answer token."""
    ends_with_end_of_turn: float
    """Share of the export's answers that end with the end-of-turn token."""
    reference_ends_with_end_of_turn: float
    end_of_turn_token: str
    max_new_tokens: int
    label_agreement: float | None = None
    """Classification domains: share of rows whose label scores pick the same label."""
    label_tie_margin: float | None = None
    """Label log-likelihood margin within which the export's own rounding can flip the pick:
    twice max_logit_difference (a log-probability moves by at most twice the largest logit change)."""
    label_flips_outside_ties: int | None = None
    """Rows whose label differs although the tuned model's margin was wider than label_tie_margin."""
    required: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    disagreements: list[dict[str, str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def held_out_prompts(run_dir: Path) -> list[str]:
    """The prompts the run scored, chat template applied, from its predictions.jsonl."""
    path = run_dir / "predictions.jsonl"
    if not path.is_file():
        raise ExportError(
            f"{path} is missing: the parity check answers the run's held-out prompts. Run "
            f"`tune eval {run_dir}` or pass a finished run folder."
        )
    prompts = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            prompts.append(json.loads(line)["prompt"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ExportError(f"{path}, line {number}: no 'prompt' field ({exc}); the file is not a run's predictions.") from exc
    if not prompts:
        raise ExportError(f"{path} holds no rows; the parity check needs the run's held-out prompts.")
    return prompts


def _greedy(model: PreTrainedModel, ids: list[int], max_new_tokens: int, stop_id: int | None, pad_id: int | None) -> list[int]:
    import torch

    options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": False, "pad_token_id": pad_id}
    if stop_id is not None:
        options["eos_token_id"] = stop_id  # the reference; an export keeps its generation config's
    inputs = torch.tensor([ids], device=model.device)
    output = model.generate(inputs, attention_mask=torch.ones_like(inputs), **options)
    return output[0, len(ids):].tolist()


def _stops_at_end_of_turn(answer: list[int], eot_id: int) -> bool:
    """The answer's first end-of-turn token is its last token: generation stopped there (an
    answer cut off by the token budget just after an end of turn did not stop)."""
    return eot_id in answer and answer.index(eot_id) == len(answer) - 1


def _answer_logits(model: PreTrainedModel, ids: list[int], answer: list[int]) -> Any:
    """Logits at the positions that predict each answer token."""
    import torch

    inputs = torch.tensor([ids + answer[:-1]], device=model.device)
    return model(input_ids=inputs, logits_to_keep=last_positions(len(answer), model.device)).logits[0].float().cpu()


def check_parity(
    reference: RunModel,
    export_model: PreTrainedModel,
    export_tokenizer: PreTrainedTokenizerBase,
    export: Path,
    kind: str,
    labels: list[str],
    end_of_turn: tuple[str, int],
    reporter: Reporter,
) -> Parity:
    """Compare the export with the run's tuned model on the run's held-out prompts."""
    import torch

    from domaintune.data.encoding import cut_middle, tokenize_texts
    from domaintune.evaluation.scoring import label_log_likelihoods

    prompts = held_out_prompts(reference.run_dir)
    config, domain = reference.config, reference.domain
    eot_token, eot_id = end_of_turn
    # Twice the run's answer budget: a cut-off answer then means "never stops", not "long".
    max_new_tokens = 2 * domain.max_new_tokens
    budget = config.max_length
    reference_ids = [cut_middle(ids, budget) for ids in tokenize_texts(reference.tokenizer, prompts)]
    export_ids = [cut_middle(ids, budget) for ids in tokenize_texts(export_tokenizer, prompts)]
    same, ended, reference_ended, worst = 0, 0, 0, 0.0
    disagreements: list[dict[str, str]] = []
    export_model.eval()
    with torch.inference_mode(), reporter.progress(f"Parity check of the {kind} export", total=len(prompts)) as advance:
        for prompt, mine, theirs in zip(prompts, reference_ids, export_ids):
            expected = _greedy(reference.model, mine, max_new_tokens, eot_id, reference.tokenizer.pad_token_id)
            answer = _greedy(export_model, theirs, max_new_tokens, None, export_tokenizer.pad_token_id)
            same += answer == expected
            ended += _stops_at_end_of_turn(answer, eot_id)
            reference_ended += _stops_at_end_of_turn(expected, eot_id)
            difference = (_answer_logits(reference.model, mine, expected) - _answer_logits(export_model, mine, expected))
            worst = max(worst, float(difference.abs().max()))
            if answer != expected and len(disagreements) < MAX_EXAMPLES:
                disagreements.append({
                    "prompt_end": prompt[-200:],
                    "tuned": reference.tokenizer.decode(expected),
                    "export": export_tokenizer.decode(answer),
                })
            advance(1)
    rows = len(prompts)
    parity = Parity(
        export=str(export), kind=kind, rows=rows, agreement=same / rows, max_logit_difference=worst,
        ends_with_end_of_turn=ended / rows, reference_ends_with_end_of_turn=reference_ended / rows,
        end_of_turn_token=eot_token, max_new_tokens=max_new_tokens, disagreements=disagreements,
    )
    if domain.task_type == "classification" and labels:
        with torch.inference_mode():
            reference_scores, export_scores = [
                label_log_likelihoods(model, tokenizer, prompts, labels, budget, config.eval_batch_size, lambda n: None)
                for model, tokenizer in ((reference.model, reference.tokenizer), (export_model, export_tokenizer))
            ]
        _compare_labels(parity, reference_scores, export_scores)
    _judge(parity)
    return parity


def _compare_labels(parity: Parity, reference_scores: list[list[float]], export_scores: list[list[float]]) -> None:
    """Label agreement, and the flips that rounding cannot explain: a row whose two best labels
    the tuned model separates by less than the tie margin is a near tie, which an f16 copy of the
    same weights may pick either way (2 of 200 on the README job's run)."""
    parity.label_tie_margin = 2 * parity.max_logit_difference
    same, outside_ties = 0, 0
    for mine, theirs in zip(reference_scores, export_scores):
        best = max(range(len(mine)), key=mine.__getitem__)
        if best == max(range(len(theirs)), key=theirs.__getitem__):
            same += 1
            continue
        runner_up = max(score for label, score in enumerate(mine) if label != best)
        outside_ties += mine[best] - runner_up > parity.label_tie_margin
    parity.label_agreement = same / len(reference_scores)
    parity.label_flips_outside_ties = outside_ties


def _judge(parity: Parity) -> None:
    """Fill in what was required and which requirement failed."""
    parity.required["ends_with_end_of_turn"] = 1.0
    if parity.ends_with_end_of_turn < 1.0:
        stops = "" if parity.reference_ends_with_end_of_turn == 1.0 else (
            f" (the run's own tuned model ends {parity.reference_ends_with_end_of_turn:.0%} of them: "
            "it did not learn to stop; train longer)"
        )
        parity.failures.append(
            f"{1 - parity.ends_with_end_of_turn:.0%} of the export's answers do not end with the "
            f"end-of-turn token {parity.end_of_turn_token!r} within {parity.max_new_tokens} tokens{stops}: "
            "a runtime would not stop them. Check the export's eos token and chat template."
        )
    if parity.kind not in EXACT_KINDS:
        return
    parity.required["agreement"] = MIN_AGREEMENT
    if parity.agreement < MIN_AGREEMENT:
        parity.failures.append(
            f"The {parity.kind} export answers {parity.agreement:.1%} of {parity.rows} held-out rows as "
            f"the tuned model does; at least {MIN_AGREEMENT:.0%} is required (max logit difference "
            f"{parity.max_logit_difference:.3g})."
        )
    if parity.label_flips_outside_ties is not None:
        parity.required["label_flips_outside_ties"] = 0
        if parity.label_flips_outside_ties:
            parity.failures.append(
                f"The {parity.kind} export picks another label than the tuned model on "
                f"{parity.label_flips_outside_ties} of {parity.rows} rows where the tuned model's margin "
                f"was wider than rounding explains ({parity.label_tie_margin:.3g}); every such label must agree."
            )


def write_parity(parity: Parity, folder: Path) -> Path:
    """parity.json beside the export; raises ParityError (after writing) when it failed."""
    path = folder / "parity.json"
    write_json_atomic(path, parity.as_dict())
    if not parity.passed:
        raise ParityError(
            f"Parity check failed for {parity.export} (see {path}): " + " ".join(parity.failures),
            parity.as_dict(),
        )
    return path
