"""The few-shot baseline's prompts: examples stratified by label, the same for every row, and
no more of them than fit within the model's context."""

from __future__ import annotations

import datasets
from domaintune.config import build_config
from domaintune.domain import Domain
from domaintune.evaluation.fewshot import few_shot_column, few_shot_prompts, pick_examples, with_shots
from domaintune.evaluation.heldout import Scoring
from domaintune.model import load_model, load_tokenizer
from domaintune.settings import domain_parts
from domaintune.training.distributed import start_processes
from domaintune.progress import SilentReporter

QUESTION = "Does this sentence mention an animal?"  # the test domain's (tests/conftest.py)


def rows(labels: list[str]) -> datasets.Dataset:
    return datasets.Dataset.from_dict(
        {"prompt": [f"{QUESTION} row {i}." for i in range(len(labels))], "completion": labels}
    )


def test_examples_are_stratified_by_label_and_seeded() -> None:
    train = rows(["yes"] * 9 + ["no"] * 3 + ["maybe"])
    picked = pick_examples(train, 5, seed=1, stratify=True)
    labels = [train["completion"][i] for i in picked]
    assert sorted(labels) == ["maybe", "no", "no", "yes", "yes"]
    assert labels[:3] == ["maybe", "no", "yes"]  # one of each label in turn
    assert picked == pick_examples(train, 5, seed=1, stratify=True)
    assert len(set(pick_examples(train, 20, seed=1, stratify=True))) == 13  # no more than there are


def test_shots_go_after_the_system_message() -> None:
    system, user, answer = ({"role": r, "content": r} for r in ("system", "user", "assistant"))
    shot = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    assert with_shots([system, user, answer], [shot]) == [system, *shot, user, answer]
    assert with_shots([user, answer], [shot, shot]) == [*shot, *shot, user, answer]


def test_prompts_hold_the_same_examples_and_fit_within_max_length(tiny_model: str, test_domain: Domain) -> None:
    tokenizer = load_tokenizer(tiny_model)
    parts = domain_parts(test_domain)
    train = rows(["yes", "no"] * 10)
    eval_set = rows(["yes", "no", "yes"])
    for max_length, fits_all in ((4096, True), (64, False)):
        config = build_config(dict(test_domain.defaults), {"domain": test_domain.name, "max_length": max_length})
        scoring = Scoring.build(test_domain, config, tokenizer, parts, train, eval_set, start_processes(), SilentReporter())
        prompts, used = few_shot_prompts(scoring, eval_set, train, parts.formatter, 4)
        assert (used == 4) is fits_all and 0 <= used <= 4
        lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]]
        assert max(lengths) <= max_length - 1
        shown = [prompt.count(f"{QUESTION} row") for prompt in prompts]
        assert shown == [used + 1] * 3  # the same examples before every row
        if used:
            first_example = train["prompt"][pick_examples(train, 4, config.seed, True)[0]]
            assert all(first_example in prompt for prompt in prompts)


def test_the_column_fits_its_examples_within_the_models_context_not_max_length(
    tiny_model: str, test_domain: Domain
) -> None:
    """max_length bounds a training row; within it, K examples and a row rarely fit, and the
    baseline fell back to 0-shot (a legal run with max_length 256 fitted none of 2)."""
    tokenizer, model = load_tokenizer(tiny_model), load_model(tiny_model)
    parts = domain_parts(test_domain)
    train, eval_set = rows(["yes", "no"] * 10), rows(["yes", "no", "yes"])
    config = build_config(dict(test_domain.defaults), {"domain": test_domain.name, "max_length": 40})
    scoring = Scoring.build(test_domain, config, tokenizer, parts, train, eval_set, start_processes(), SilentReporter())
    assert few_shot_prompts(scoring, eval_set, train, parts.formatter, 3)[1] == 0  # within max_length
    predicted, info = few_shot_column(scoring, model, eval_set, train, parts.formatter, 3)
    assert info == {"asked": 3, "examples": 3, "max_length": model.config.max_position_embeddings}
    assert len(predicted.predictions) == 3 and set(predicted.predictions) <= {"yes", "no"}


def test_the_whole_job_shows_the_few_shot_column_when_the_config_asks(
    tmp_path, tiny_model: str, test_domain: Domain  # noqa: ANN001
) -> None:
    import json

    from domaintune.run import run_job

    config = build_config(dict(test_domain.defaults), {
        "domain": test_domain.name, "model": tiny_model, "output_dir": str(tmp_path / "run"), "few_shot": 2,
        "max_length": 256, "max_train_rows": 8, "eval_rows": 8, "batch_size": 4, "precision": "fp32",
    })
    summary = run_job(config).summary
    shots = summary["few_shot"]
    assert shots["asked"] == 2 and shots["examples"] == 2  # two short rows fit in 256 tokens
    rows = [json.loads(line) for line in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    accuracy = sum(row["few_shot"] == row["reference"] for row in rows) / len(rows)
    assert shots["metrics"]["accuracy"] == accuracy
    assert set(shots["tuned_minus_few_shot"]) == set(summary["tuned"])
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["few_shot"] == shots
