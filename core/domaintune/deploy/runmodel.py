"""A finished run's model ready for use: the weights (base + adapter, or the full model), the
tokenizer, and the domain's formatter, chat template and filters exactly as the run trained
with them. Chat, serve and export all load a run through `load_run_model`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from domaintune.config import RunConfig
from domaintune.domain import Domain, Formatter, Message, SafetyFilter
from domaintune.errors import ConfigError
from domaintune.plugins import blame, call_hook, collect, get_domain, wrap_callable

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass
class FilteredAnswer:
    """One answer after the domain's output filters: the text to show (masked), whether a
    filter blocked it, and the findings by ``filter:kind``."""

    text: str
    blocked: bool
    findings: dict[str, int] = field(default_factory=dict)


@dataclass
class RunModel:
    """A run's model with everything needed to prompt it as it was trained."""

    run_dir: Path
    config: RunConfig
    domain: Domain
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    formatter: Formatter
    output_filters: list[SafetyFilter]
    data_filters: list[SafetyFilter]
    base: bool
    """True when ``model`` is the untuned base model (``--base``)."""
    model_path: str
    """What the base model was loaded from (a folder or hub name)."""

    @property
    def name(self) -> str:
        """The model's id in the API: the run folder's name, ``-base`` appended for the base."""
        return self.run_dir.resolve().name + ("-base" if self.base else "")

    @property
    def context_length(self) -> int:
        """Tokens the model attends over: prompt and answer together."""
        from domaintune.model import context_length

        return context_length(self.model, self.config.max_length)

    def render_prompt(self, messages: list[Message]) -> str:
        """The prompt text for a conversation, as training rendered it: the domain's formatter
        (its system prompt first unless the messages hold one), then the chat template up to
        the assistant's turn."""
        from domaintune.data.encoding import split_prompt_answer

        turns = [*messages, {"role": "assistant", "content": ""}]
        last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        batch = {"prompt": [last_user], "completion": [""], "messages": [turns]}
        with blame(f"the formatter of domain {self.domain.name!r}"):
            conversation = self.formatter(batch)[0]
        prompts, _ = split_prompt_answer([conversation], self.tokenizer)
        return prompts[0]

    def encode(self, prompt: str) -> list[int]:
        from domaintune.data.encoding import tokenize_texts

        return tokenize_texts(self.tokenizer, [prompt])[0]

    def filter_answers(self, answers: list[str], prompts: list[str]) -> list[FilteredAnswer]:
        """Run every output filter over a batch of answers, in order, as the run's scoring does;
        ``prompts[i]`` is what ``answers[i]`` replied to (for filters that read prompts)."""
        texts = list(answers)
        blocked = [False] * len(texts)
        findings: list[dict[str, int]] = [{} for _ in texts]
        for safety_filter in self.output_filters:
            with blame(f"output filter {safety_filter.name!r}"):
                if safety_filter.reads_prompts:
                    outcome = safety_filter.apply(texts, context=prompts)
                else:
                    outcome = safety_filter.apply(texts)
            _merge(findings, safety_filter.name, texts, outcome)
            texts = list(outcome.texts)
            blocked = [old or new for old, new in zip(blocked, outcome.blocked)]
        return [FilteredAnswer(t, b, f) for t, b, f in zip(texts, blocked, findings)]

    def filter_inputs(self, texts: list[str]) -> tuple[list[str], dict[str, int]]:
        """Mask identifiers in user text with the domain's data filters (``--filter-input``);
        the masked texts and the findings over all of them."""
        findings: dict[str, int] = {}
        for safety_filter in self.data_filters:
            with blame(f"data filter {safety_filter.name!r}"):
                outcome = safety_filter.apply(texts)
            texts = list(outcome.texts)
            for kind, n in outcome.counts.items():
                key = f"{safety_filter.name}:{kind}"
                findings[key] = findings.get(key, 0) + n
        return texts, findings


def _merge(findings: list[dict[str, int]], name: str, before: list[str], outcome: Any) -> None:
    """Attribute a filter's findings (counted per batch) to answers. A batch of one answer
    gets them exactly, as serving and chat filter each answer when it is done; in a larger
    batch each kind goes to the rows the filter changed or blocked, once per row."""
    if len(before) == 1:
        rows = {0: outcome.counts}
    else:
        changed = [
            i for i, (old, new, flag) in enumerate(zip(before, outcome.texts, outcome.blocked))
            if old != new or flag
        ]
        rows = {i: dict.fromkeys(outcome.counts, 1) for i in changed}
    for i, counts in rows.items():
        for kind, n in counts.items():
            key = f"{name}:{kind}"
            findings[i][key] = findings[i].get(key, 0) + n


def run_config(run_dir: Path) -> RunConfig:
    """The settings a finished run was trained with (its config.yaml)."""
    from domaintune.config import build_config

    saved = run_dir / "config.yaml"
    if not saved.is_file():
        raise ConfigError(f"{run_dir} is not a run folder (no config.yaml); pass the folder a run wrote.")
    return build_config(yaml.safe_load(saved.read_text(encoding="utf-8")))


def tuned_model_dir(run_dir: Path, config: RunConfig) -> Path:
    """The run's adapter/ or model/ folder; an error when the run did not finish."""
    tuned_dir = run_dir / ("adapter" if config.uses_adapter else "model")
    if not tuned_dir.is_dir():
        raise ConfigError(
            f"{run_dir} holds no trained model ({tuned_dir.name}/): the run did not finish. "
            "Resume it with the same `tune` command, or pass a finished run folder."
        )
    return tuned_dir


def load_run_model(
    run_dir: Path | str, base: bool = False, merged: bool = False, precision: str | None = None
) -> RunModel:
    """Load a finished run's tuned model, or its untuned base model with ``base``, in eval mode.

    For chat and serve the weights are bf16 where ``precision`` (default: the run's own, the
    precision it was trained and scored in) gives bf16, else fp32. In bf16 the LoRA adapter
    stays unmerged: merged into bf16 weights, most of a LoRA update is rounded away (a
    PhraseBank run scored 0.700 unmerged and 0.605 merged into bf16). ``merged`` gives what
    export writes: fp32 weights with the adapter merged in. The adapter is cast to bf16 too: a
    one-row decode step of the default model took 51 ms against 67 ms with an fp32 adapter,
    as near the fp32 tuned model's logits.
    """
    from domaintune.model import load_model, load_tokenizer, resolve_model
    from domaintune.precision import parameters_to_bf16, use_bf16
    from domaintune.progress import quiet_libraries

    run_dir = Path(run_dir)
    config = run_config(run_dir)
    tuned_dir = tuned_model_dir(run_dir, config)
    domain = get_domain(config.domain)
    formatter = wrap_callable(
        f"the formatter of domain {domain.name!r}", call_hook("make_formatter", domain=domain)
    )
    output_filters = collect("make_output_filters", domain=domain)
    data_filters = collect("make_data_filters", domain=domain)
    quiet_libraries()
    model_path = resolve_model(config.model)
    trust = config.trust_remote_code  # what the run was trained with, recorded in config.yaml
    tokenizer = load_tokenizer(model_path, trust_remote_code=trust)
    bf16 = not merged and use_bf16(precision or config.precision)
    if base:
        model = load_model(model_path, trust_remote_code=trust)
    elif config.uses_adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(load_model(model_path, trust_remote_code=trust), tuned_dir)
        # bf16: the base model with the adapter's LoRA layers in it, unmerged.
        model = model.get_base_model() if bf16 else model.merge_and_unload()
    else:
        model = load_model(str(tuned_dir), trust_remote_code=trust)
    if bf16:
        parameters_to_bf16(model)
    model.eval()
    return RunModel(
        run_dir=run_dir, config=config, domain=domain, model=model, tokenizer=tokenizer,
        formatter=formatter, output_filters=output_filters, data_filters=data_filters,
        base=base, model_path=model_path,
    )
