"""`tune data check`: what a run would make of the data, before any model weights are loaded.

For the train source (and the eval source, when there is one) it reports the rows and their
shape, the label distribution of classification data, token lengths with the run's tokenizer
and chat template (and how many rows max_length cuts), exact and normalized duplicates, what
the domain's safety filters change, and the eval rows: held out from train (with the train
rows that share their prompt left out), or the eval rows that also appear in train.

Problems (the run would fail, or its scores would not be trusted) make the check fail;
warnings do not. Per-row work runs batched through ``datasets.map``, in parallel on big
sources, and keeps only small columns (lengths, hashes) in memory.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domaintune.config import RunConfig, build_config, read_config_file
from domaintune.data.check_figures import (
    EXAMPLES,
    contamination,
    duplicates,
    label_counts,
    looks_like_labels,
    pairs_text,
    rows_text,
    text_keys,
    token_lengths,
)
from domaintune.data.filtering import apply_filters
from domaintune.data.loading import RowErrors, load, load_info
from domaintune.data.readers import FORMAT_NAMES
from domaintune.data.split import split_indices
from domaintune.domain import Domain
from domaintune.errors import ConfigError, DataError, DomaintuneError
from domaintune.plugins import call_hook, collect, wrap_callable

if TYPE_CHECKING:
    import datasets
    import numpy as np
    from transformers import PreTrainedTokenizerBase

MAX_LABELS = 50  # as run.class_labels
NO_DOMAIN = Domain(
    name="(no domain)",
    description="Data checked without a domain: no domain filters, a one-line system prompt.",
    task_type="generation",
    system_prompt="You are a helpful assistant.",
)


@dataclass
class SourceReport:
    role: str
    """"train" or "eval"."""
    source: str
    format: str = ""
    shape: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    detected: bool = True
    rows: int = 0
    """Rows that load (bad rows are counted in ``problem_count``)."""
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    notes: list[str] = field(default_factory=list)
    labels: dict[str, int] | None = None
    tokens: dict[str, Any] | None = None
    duplicates: dict[str, Any] | None = None
    safety: dict[str, Any] | None = None


@dataclass
class CheckReport:
    domain: str | None
    task_type: str
    max_length: int
    tokenizer: str | None
    sources: list[SourceReport]
    split: dict[str, Any] | None = None
    contamination: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.problems and not any(s.problem_count for s in self.sources)

    def as_dict(self) -> dict[str, Any]:
        return {"usable": self.usable, **asdict(self)}


# Entry point for the CLI --------------------------------------------------------------------


def check_from_options(
    path: str | None, options: dict[str, Any], config_file: Path | None
) -> CheckReport:
    """Settings as a run resolves them (domaintune.settings: the variant the data fits, its
    defaults, then --config, then options), then :func:`check_data`."""
    from domaintune.settings import resolve_settings

    file_values = read_config_file(config_file) if config_file else {}
    cli_values = {key: value for key, value in options.items() if value is not None}
    if path:
        cli_values["data"] = path
    domain: Domain | None = None
    if cli_values.get("domain", file_values.get("domain")):
        settings = resolve_settings(cli_values, config_file, for_run=False)
        domain, config = settings.domain, settings.config
    else:  # no domain: the core's own checks only
        config = build_config({"domain": ""}, file_values, cli_values)
    train = config.data or (domain.train_data if domain else None)
    if train is None:
        raise ConfigError(
            "Nothing to check: give a PATH, or --domain D to check the domain's bundled data."
        )
    bundled_eval = domain.eval_data if domain and path is None and config.data is None else None
    return check_data(config, domain, str(train), config.eval_data or (str(bundled_eval) if bundled_eval else None))


# The check ----------------------------------------------------------------------------------


def check_data(
    config: RunConfig, domain: Domain | None, train_source: str, eval_source: str | None
) -> CheckReport:
    import datasets

    datasets.disable_progress_bars()
    the_domain = domain or NO_DOMAIN
    report = CheckReport(
        domain=domain.name if domain else None,
        task_type=the_domain.task_type,
        max_length=config.max_length,
        tokenizer=None,
        sources=[],
    )
    tokenizer = _tokenizer(config.model, report)
    formatter = wrap_callable(
        f"the formatter of domain {the_domain.name!r}", call_hook("make_formatter", domain=the_domain)
    )
    filters = collect("make_data_filters", domain=the_domain)
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="domaintune-check-")))
        keys: dict[str, dict[str, np.ndarray]] = {}
        filtered: dict[str, datasets.Dataset] = {}
        for role, source in (("train", train_source), ("eval", eval_source)):
            if source is None:
                continue
            source_report, dataset = _load(role, source, the_domain, config, stack)
            report.sources.append(source_report)
            if dataset is None or len(dataset) == 0:
                continue
            if domain is None and role == "train" and looks_like_labels(dataset):
                report.task_type = "classification"
            if report.task_type == "classification":
                source_report.labels = label_counts(dataset)
            if tokenizer is not None:
                try:
                    source_report.tokens = token_lengths(dataset, formatter, tokenizer, config.max_length)
                except DomaintuneError as exc:
                    report.problems.append(f"{role} data cannot be formatted for the model: {exc}")
                    tokenizer = None
            dataset_after, safety = apply_filters(dataset, filters, str(scratch / f"{role}-filtered.arrow"))
            source_report.safety = {
                **safety.as_dict(),
                "filters": [f.name for f in filters],
                "dropped_rows": [i + 1 for i in safety.dropped_rows[:EXAMPLES]],
            }
            filtered[role] = dataset_after
            keys[role] = text_keys(dataset_after)
            source_report.duplicates = duplicates(keys[role])
        _judge_sources(report, domain)
        if "train" in filtered:
            if "eval" in filtered:
                report.contamination = contamination(keys["train"], keys["eval"])
                if report.contamination["rows"]:
                    c = report.contamination
                    report.problems.append(
                        f"{c['rows']} of {c['eval_rows']} eval rows share their prompt with a train "
                        "row (after normalizing case and spaces), so the tuned score would be "
                        f"inflated (e.g. {pairs_text(c['examples'], 'eval', 'train')}); remove them from "
                        "the train file or the eval file"
                    )
            elif not any(s.role == "eval" for s in report.sources):
                _split(report, filtered["train"], config, report.task_type == "classification")
    return report


def _load(
    role: str, source: str, domain: Domain, config: RunConfig, stack: contextlib.ExitStack
) -> tuple[SourceReport, datasets.Dataset | None]:
    from domaintune.data.prepare import load_source

    report = SourceReport(role=role, source=source)
    try:
        dataset = load_source(domain, source, config.column_map, config.shape)
        info = load_info(dataset)
    except RowErrors as exc:
        # Describe the good rows too: read again, keeping them (the file is not cached).
        report.problems, report.problem_count = exc.problems, exc.count
        try:
            loaded = load(source, shape=config.shape, column_map=config.column_map, domain_name=domain.name, strict=False)
        except DataError:
            return report, None
        stack.callback(loaded.close)
        dataset, info = loaded.dataset, loaded.info
    except DataError as exc:
        report.problems, report.problem_count = [str(exc)], 1
        return report, None
    if info is not None:
        report.format = FORMAT_NAMES.get(info.format, info.format)
        report.shape, report.fields, report.detected = info.shape, info.fields, info.detected
        report.notes = list(info.notes)
    else:
        report.format = "read by a plugin"
        report.shape = "messages" if "messages" in dataset.column_names else "prompt_completion"
    report.rows = len(dataset)
    return report, dataset


def _judge_sources(report: CheckReport, domain: Domain | None) -> None:
    """Problems and warnings that follow from each source's figures."""
    classification = report.task_type == "classification"
    train_labels = next((s.labels for s in report.sources if s.role == "train" and s.labels), None)
    for s in report.sources:
        name = f"{s.role} data ({s.source})"
        report.warnings.extend(f"{name}: {note}" for note in s.notes)
        if s.problem_count:
            continue  # listed with the source
        if s.safety and s.safety["rows_in"] and s.safety["rows_dropped"] == s.safety["rows_in"]:
            report.problems.append(f"{name}: the safety filters drop every row; nothing is left to use")
        if classification and s.labels is not None:
            if len(s.labels) > MAX_LABELS:
                report.problems.append(
                    f"{name}: {len(s.labels)} distinct completions for a classification domain "
                    f"(at most {MAX_LABELS}); give label completions, or use a generation domain"
                )
            else:
                if domain is not None and domain.labels:
                    extra = {label: n for label, n in s.labels.items() if label not in domain.labels}
                    if extra:
                        shown = ", ".join(f"{label!r} ({n})" for label, n in list(extra.items())[:5])
                        report.warnings.append(
                            f"{name}: labels outside the domain's ({', '.join(domain.labels)}): "
                            f"{shown}; they are scored as labels of their own"
                        )
                rare = [label for label, n in s.labels.items() if n < 2]
                if s.role == "train" and rare:
                    report.warnings.append(f"{name}: labels with a single row: {', '.join(map(repr, rare[:5]))}")
                if s.role == "eval" and train_labels:
                    unseen = [label for label in s.labels if label not in train_labels]
                    if unseen:
                        report.warnings.append(f"{name}: labels never seen in training: {', '.join(map(repr, unseen[:5]))}")
        if s.shape == "text" and s.role == "eval":
            report.warnings.append(
                f"{name}: plain-text rows are scored by generating from the system prompt alone, "
                "which says little; hold out prompt/completion rows to score"
            )
        if s.tokens:
            t = s.tokens
            if t["truncated"]:
                report.warnings.append(
                    f"{name}: {rows_text(t['truncated'])} ({t['truncated'] / s.rows:.1%}) longer than "
                    f"max_length {report.max_length} tokens; training keeps their start and end and "
                    "cuts the middle of the prompt (raise --max-length to keep more)"
                )
            if t["answer_cut"]:
                report.warnings.append(
                    f"{name}: in {rows_text(t['answer_cut'])} the answer alone is longer than max_length; "
                    "it is cut, and the model never learns its end"
                )
        if s.duplicates:
            d = s.duplicates
            if d["exact"] or d["normalized"]:
                report.warnings.append(
                    f"{name}: {rows_text(d['exact'])} repeat an earlier row exactly and {d['normalized']:,} "
                    f"more after normalizing case and spaces (e.g. {pairs_text(d['examples'], 'row', 'row')}); "
                    "repeated rows weigh more in training"
                )
            if d["conflicting_prompts"]:
                what = "labels" if classification else "completions"
                report.warnings.append(
                    f"{name}: {d['conflicting_prompts']} prompts appear with different {what} "
                    f"({rows_text(d['conflicting_rows'])})"
                )


def _tokenizer(model: str | None, report: CheckReport) -> PreTrainedTokenizerBase | None:
    """The run's tokenizer, without the model's weights."""
    from domaintune.errors import ModelError
    from domaintune.model import default_model_files, load_tokenizer

    if model:
        try:
            tokenizer = load_tokenizer(model)
        except ModelError as exc:
            report.problems.append(str(exc))
            return None
        report.tokenizer = model
        return tokenizer
    try:
        folder, gguf = default_model_files()
    except ModelError as exc:
        report.warnings.append(f"no token lengths: {exc}")
        return None
    if folder.is_dir():  # converted before: its tokenizer loads in a second
        tokenizer = load_tokenizer(str(folder))
    else:  # only the tokenizer from the GGUF file's metadata: no conversion, no weights
        from transformers import AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, trust_remote_code=False)
        except Exception as exc:  # a damaged or unexpected GGUF file: the check goes on
            report.warnings.append(f"no token lengths: the default model's tokenizer did not load ({exc})")
            return None
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
    report.tokenizer = f"default ({gguf.stem})"
    return tokenizer


def _split(report: CheckReport, train: datasets.Dataset, config: RunConfig, stratify: bool) -> None:
    try:
        kept, held_out, left_out = split_indices(train, config.eval_rows, config.seed, stratify)
    except DataError as exc:
        report.problems.append(str(exc))
        return
    report.split = {
        "eval_rows": len(held_out),
        "train_rows": len(kept),
        "left_out": left_out,
        "seed": config.seed,
        "stratified": stratify,
    }
    report.contamination = {"eval_rows": len(held_out), "rows": 0, "examples": []}
