"""Test helpers for plugin authors, installed as a pytest plugin (entry point ``pytest11``).

Every test run in an environment with domaintune installed gets these fixtures:

- ``tiny_model``: the folder of a tiny randomly initialised Llama with a ChatML tokenizer, built
  from scratch once per session (no download; a run on it takes seconds).
- ``registered_plugin``: ``registered_plugin(plugin)`` registers a plugin object for the rest
  of the test (or for a ``with`` block) and unregisters it afterwards, even when the test fails.
- ``run_domain``: ``run_domain("mydomain", **settings)`` runs the whole job on the domain's
  sample with the tiny model and returns the :class:`~domaintune.run.RunOutcome`.

pytest imports this module in every run of every project in the environment, so it imports
nothing heavy at module level: torch, transformers and the run machinery load inside fixtures.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from domaintune.run import RunOutcome

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
"""SmolLM2's chat format, without its default system prompt."""

DEFAULT_TOKENIZER_TEXT = (
    "You are a helpful assistant. Answer with exactly one word.",
    "system user assistant yes no Yes No true false billing technical",
    "The quick brown fox jumps over the lazy dog.",
    "Please read the question and the text, then give the answer.",
    "The customer asked about the invoice, the payment and the account.",
    "The contract, the patient, the report and the table show the numbers.",
)
"""What the tiny tokenizer learns its merges from; any other text still encodes, byte by byte."""

TINY_RUN: dict[str, Any] = {
    "max_train_rows": 16,
    "eval_rows": 8,
    "epochs": 1.0,
    "batch_size": 4,
    "gradient_accumulation": 1,
    "eval_batch_size": 4,
    "learning_rate": 1e-2,
    "logging_steps": 1,
    "precision": "fp32",
    "max_length": 128,
    "time_budget_minutes": None,
}
"""Settings ``run_domain`` uses unless told otherwise: a run of a few seconds."""


def build_tiny_model(folder: Path | str, texts: Sequence[str] = DEFAULT_TOKENIZER_TEXT) -> str:
    """Save a tiny randomly initialised Llama and a ChatML byte-level BPE tokenizer trained on
    ``texts`` (pad == eos == ``<|im_end|>``, as in SmolLM2) to ``folder``; return the folder,
    for ``RunConfig(model=...)`` or ``tune --model``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(
        list(texts),
        trainer=trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=["<|im_start|>", "<|im_end|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|im_end|>"
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.save_pretrained(folder)

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return str(folder)


class PluginRegistration:
    """One plugin registered by :func:`plugin_registered`; ``with`` unregisters it at the end."""

    def __init__(self, plugin: object, name: str | None) -> None:
        import pluggy

        from domaintune import plugins
        from domaintune.errors import PluginError

        plugins.load_plugins()  # the installed plugins first, so a later load runs under nothing
        self.plugin = plugin
        try:
            self.name = plugins.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:  # a hook takes an argument the spec lacks
            raise PluginError(
                f"{exc}. A hook may take only (a subset of) its spec's arguments; see "
                "domaintune.hookspecs."
            ) from exc
        try:
            plugins.check_hooks()  # a misspelled hook name fails here, naming the plugin
        except BaseException:
            self.unregister()
            raise

    def unregister(self) -> None:
        from domaintune import plugins

        if plugins.pm.is_registered(self.plugin):
            plugins.pm.unregister(self.plugin)

    def __enter__(self) -> object:
        return self.plugin

    def __exit__(self, *exc_info: object) -> None:
        self.unregister()


def plugin_registered(plugin: object, name: str | None = None) -> PluginRegistration:
    """Register ``plugin`` (a module, class instance or any object with ``@hookimpl``
    functions) on domaintune's plugin manager, beside the installed plugins.

    Use it as a context manager (``with plugin_registered(MyPlugin()): ...``), or call
    ``.unregister()`` yourself; the ``registered_plugin`` fixture does that at teardown.
    """
    return PluginRegistration(plugin, name)


@pytest.fixture
def registered_plugin() -> Iterator[Callable[..., PluginRegistration]]:
    """``registered_plugin(plugin, name=None)`` registers ``plugin`` until the end of the test
    (or of a ``with registered_plugin(plugin):`` block); it is unregistered in ``finally``."""
    registrations: list[PluginRegistration] = []

    def register(plugin: object, name: str | None = None) -> PluginRegistration:
        registration = plugin_registered(plugin, name)
        registrations.append(registration)
        return registration

    try:
        yield register
    finally:
        for registration in reversed(registrations):
            registration.unregister()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The folder of a tiny Llama and ChatML tokenizer built from scratch (see
    :func:`build_tiny_model`); pass it as ``model`` to a run."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def run_domain(tiny_model: str, tmp_path: Path) -> Callable[..., RunOutcome]:
    """``run_domain(domain_name, **settings)``: the whole job (data, filters, split, base
    score, LoRA fine-tune, tuned score, run folder) on the domain's sample with the tiny model.

    Settings are layered as `tune` layers them: the domain's defaults, then :data:`TINY_RUN`,
    then ``settings`` (any :class:`~domaintune.config.RunConfig` field, e.g. ``data=...``).
    Each call writes a new run folder under the test's ``tmp_path``.
    """
    counter = itertools.count(1)

    def run(domain_name: str, **settings: Any) -> RunOutcome:
        from domaintune.config import build_config
        from domaintune.plugins import get_domain
        from domaintune.run import run_job

        defaults = dict(get_domain(domain_name).defaults)
        fixed = {
            "domain": domain_name,
            "model": tiny_model,
            "output_dir": str(tmp_path / f"run-{domain_name}-{next(counter)}"),
        }
        return run_job(build_config(defaults, TINY_RUN, fixed, settings))

    return run
