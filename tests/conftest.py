"""Fixtures for the core tests: a tiny local model, a small test domain offered by a test
plugin, and a plugin manager that can be reset to a clean state and restored afterwards.

Nothing here downloads anything: the tiny model and its tokenizer are built from scratch.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from domaintune import Domain, FilterOutcome, SafetyFilter, hookimpl, manager, plugins
from domaintune.testing import build_tiny_model

# The tests never need the network; fail fast instead of waiting for a timeout.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Under pytest-xdist each worker's torch (and the runs it starts) gets its share of the cores,
# not all of them: two workers on 2 cores would otherwise run four threads.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))

TEST_DOMAIN = "testdomain"
TEST_PLUGIN_NAME = "testdomain-plugin"
QUESTION = "Does this sentence mention an animal?"

ANIMAL_SENTENCES = [
    "The dog slept on the porch all afternoon.",
    "A cat watched the birds from the window.",
    "Two horses grazed in the field behind the barn.",
    "The farmer counted his sheep before the storm.",
    "A fox crossed the road just after midnight.",
    "Our neighbour feeds the pigeons every morning.",
    "The cow gave more milk this week than last.",
    "A small mouse hid behind the kitchen cupboard.",
    "The owl called twice from the old oak tree.",
    "Ducks swam slowly across the quiet pond.",
    "The rabbit ate every lettuce in the garden.",
    "A bee landed on the red flower by the door.",
    "The goat climbed onto the roof of the shed.",
    "Her parrot can say hello in three languages.",
    "A deer stood still at the edge of the forest.",
    "The fish in the tank swim in small circles.",
    "A wolf was seen near the mountain village.",
    "The chickens laid six eggs on Tuesday.",
    "A frog jumped into the stream with a splash.",
    # The filter masks the address; the row stays.
    "Write to the farmer at anna.berg@example.com about her goats.",
]
OTHER_SENTENCES = [
    "The train to the city leaves at nine o'clock.",
    "She paid the electricity bill on Monday.",
    "The meeting was moved to the second floor.",
    "Rain is expected over the weekend.",
    "He repaired the bicycle with a new chain.",
    "The library closes early on public holidays.",
    "Our team finished the report before lunch.",
    "The bread in this bakery is baked at dawn.",
    "The bridge was painted blue last summer.",
    "A new school opened near the river.",
    "The price of coffee rose again this year.",
    "She wrote the letter with a green pen.",
    "The concert started twenty minutes late.",
    "They planted tomatoes and beans in spring.",
    "The museum shows old maps of the harbour.",
    "His phone battery died during the call.",
    "The road to the airport is closed tonight.",
    "We bought a lamp for the reading room.",
    "The clock in the hall runs five minutes fast.",
    "The soup needs a little more salt.",
]
# The filter blocks this row, so the split sees 20 "yes" and 20 "no" rows.
BLOCKED_SENTENCE = "CONFIDENTIAL: the horse auction closes on Friday."

TOKENIZER_TEXT = (
    ANIMAL_SENTENCES
    + OTHER_SENTENCES
    + [
        QUESTION,
        "You answer yes or no.",
        "system user assistant yes no Yes No",
        "The quick brown fox jumps over the lazy dog.",
    ]
)


def sample_rows() -> list[dict[str, str]]:
    rows = [{"prompt": f"{QUESTION} {s}", "completion": "yes"} for s in ANIMAL_SENTENCES]
    rows += [{"prompt": f"{QUESTION} {s}", "completion": "no"} for s in OTHER_SENTENCES]
    rows.append({"prompt": f"{QUESTION} {BLOCKED_SENTENCE}", "completion": "yes"})
    # Interleave the labels, as a real file would be.
    return [row for pair in zip(rows[:20], rows[20:40]) for row in pair] + rows[40:]


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")


def _redact(texts: list[str]) -> FilterOutcome:
    counts: Counter[str] = Counter()
    masked = []
    for text in texts:
        found = EMAIL.findall(text)
        counts["EMAIL"] += len(found)
        masked.append(EMAIL.sub("[EMAIL]", text))
    blocked = ["CONFIDENTIAL" in text for text in texts]
    if any(blocked):
        counts["confidential"] += sum(blocked)
    return FilterOutcome(texts=masked, blocked=blocked, counts={k: v for k, v in counts.items() if v})


LABELLED_EMAILS = ["write to ann@example.org", "cc: bo.li@mail.example.com today", "no address here"]


def _redact_figures() -> dict[str, Any]:
    """The share of the labelled addresses that _redact masks: a real, if tiny, measurement."""
    masked = _redact(LABELLED_EMAILS).texts
    found = sum(text.count("[EMAIL]") for text in masked)
    return {"test_set": f"{len(LABELLED_EMAILS)} snippets", "recall": found / 2}


REDACT_FILTER = SafetyFilter(name="test-redact", apply=_redact, evaluate=_redact_figures)
"""Masks e-mail addresses as [EMAIL] and blocks texts marked CONFIDENTIAL."""


@pytest.fixture
def redact_filter() -> SafetyFilter:
    return REDACT_FILTER


class TestDomainPlugin:
    """Offers `testdomain` (does a sentence mention an animal? yes/no) and its data filter."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, domain: Domain) -> None:
        self.domain = domain

    @hookimpl
    def register_domains(self, register):  # noqa: ANN001, ANN201
        register(self.domain)

    @hookimpl
    def make_data_filters(self, domain: Domain) -> list[SafetyFilter] | None:
        if domain.name != self.domain.name:
            return None
        return [REDACT_FILTER]


@pytest.fixture(scope="session")
def test_domain_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test domain's training file: 41 rows, one of them blocked by the filter."""
    return write_jsonl(tmp_path_factory.mktemp("testdomain") / "train.jsonl", sample_rows())


@pytest.fixture
def test_domain(test_domain_data: Path) -> Iterator[Domain]:
    """Register the test domain's plugin for one test; unregister it afterwards."""
    # Load the real plugins first, so that the test plugin sits on top of them as a
    # third-party plugin would, and a later load_plugins() does not run underneath it.
    plugins.load_plugins()
    domain = Domain(
        name=TEST_DOMAIN,
        description="Does a sentence mention an animal?",
        task_type="classification",
        system_prompt="You answer yes or no.",
        train_data=test_domain_data,
        labels=("yes", "no"),
        defaults={"max_length": 64},
    )
    plugin = TestDomainPlugin(domain)
    plugins.pm.register(plugin, name=TEST_PLUGIN_NAME)
    try:
        yield domain
    finally:
        plugins.pm.unregister(plugin)


@pytest.fixture
def fresh_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An empty plugin manager that loads entry points again on first use; the previous
    registrations, broken-plugin list and distributions are restored afterwards."""
    plugins.load_plugins()
    saved = [(name, plugin) for name, plugin in plugins.pm.list_name_plugin() if plugin is not None]
    saved_broken = list(manager.broken_plugins)
    saved_distributions = dict(manager._distributions)
    monkeypatch.delenv(plugins.LOAD_PLUGINS_ENV, raising=False)

    def reset() -> None:
        for name, plugin in plugins.pm.list_name_plugin():
            if plugin is not None:
                plugins.pm.unregister(plugin, name=name)
        manager._loaded = False
        manager.broken_plugins.clear()  # in place: the CLI imported this very list
        manager._distributions.clear()

    reset()
    try:
        yield
    finally:
        reset()
        for name, plugin in saved:
            plugins.pm.register(plugin, name=name)
        manager.broken_plugins.extend(saved_broken)
        manager._distributions.update(saved_distributions)
        manager._loaded = True


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny randomly initialised Llama with a ChatML tokenizer (pad == eos == <|im_end|>,
    like SmolLM2), saved to a folder; returns the folder for ``RunConfig(model=...)``.

    domaintune.testing's own ``tiny_model`` fixture, with a tokenizer trained on this file's
    sentences."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), TOKENIZER_TEXT)
