"""Canaries: fake identifiers planted before the safety filters must not survive them."""

from __future__ import annotations

from domaintune import Domain
from domaintune.config import build_config
from domaintune.plugins import get_domain
from domaintune.run import prepare_data


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
