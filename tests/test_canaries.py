"""Canaries: fake identifiers planted before the safety filters must not survive them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from domaintune import Domain
from domaintune.config import build_config
from domaintune.data.prepare import prepare_data
from domaintune.errors import PluginError
from domaintune.plugins import get_domain
from domaintune.run import run_job
from domaintune.safety.canaries import domain_canaries


def test_legal_filters_remove_every_planted_canary() -> None:
    config = build_config({"domain": "legal", "canaries": 6, "eval_rows": 10})
    train_set, _, info = prepare_data(get_domain("legal"), config)
    assert info["canaries"] == {"planted": 6, "survived_filters": 0, "survivors": []}
    # The planted sentences were there, and were masked rather than the rows dropped.
    assert sum("[SSN]" in prompt for prompt in train_set["prompt"]) >= 2


def test_a_filter_that_misses_kinds_lets_their_canaries_through(test_domain: Domain) -> None:
    # The test domain's filter masks e-mail addresses only: its SSN and phone canaries survive.
    config = build_config({"domain": "testdomain", "canaries": 6, "eval_rows": 8, "seed": 1})
    _, _, info = prepare_data(test_domain, config)
    canaries = info["canaries"]
    assert canaries["planted"] == 6
    # (A canary whose row the filter drops for another reason does not survive either.)
    kinds = [survivor.split()[0] for survivor in canaries["survivors"]]
    assert 1 <= canaries["survived_filters"] == len(kinds) <= 4
    assert set(kinds) <= {"PHONE", "SSN"}


def test_a_run_probes_the_tuned_model_for_its_canaries(
    tmp_path: Path, tiny_model: str, test_domain: Domain
) -> None:
    # The test domain's filter lets SSN and phone canaries into training; the answer-only loss
    # never trains on prompt text, so the tuned model must not write any of them out.
    config = build_config(
        dict(test_domain.defaults),
        {
            "domain": "testdomain", "model": tiny_model, "output_dir": str(tmp_path / "run"),
            "canaries": 4, "max_train_rows": 16, "eval_rows": 8, "batch_size": 4,
            "gradient_accumulation": 1, "precision": "fp32", "seed": 1,
        },
    )
    summary = run_job(config).summary
    probe = summary["data"]["canaries"]["tuned_model"]
    assert probe["planted"] == 4
    assert 1 <= probe["probed"] <= 4
    assert probe["produced"] == 0 and probe["produced_values"] == []
    report = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert f"canaries in the tuned model's output: 0 of {probe['probed']}" in report


def test_a_finance_run_plants_card_and_iban_canaries_and_its_filter_catches_them() -> None:
    # The finance pack's Domain says which kinds its filters must catch; a run plants those,
    # not a list of its own (before, only SSN, phone and e-mail canaries were ever planted).
    domain = get_domain("finance")
    assert {"CARD_NUMBER", "IBAN"} <= set(domain.canary_kinds)
    config = build_config({"domain": "finance", "canaries": 10, "eval_rows": 10})
    train_set, _, info = prepare_data(domain, config)
    assert info["canaries"] == {"planted": 10, "survived_filters": 0, "survivors": []}
    prompts = "\n".join(train_set["prompt"])
    assert "Card number [CARD_NUMBER]." in prompts and "IBAN [IBAN]." in prompts


def test_a_domain_asking_for_a_kind_nobody_can_plant_is_refused_naming_it(test_domain: Domain) -> None:
    odd = dataclasses.replace(test_domain, canary_kinds=("SSN", "PASSPORT"))
    with pytest.raises(PluginError, match=r"'testdomain'.*'PASSPORT'.*CARD_NUMBER"):
        domain_canaries(odd, 4, seed=0)
