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
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domaintune.config import RunConfig, build_config, read_config_file
from domaintune.data.loading import (
    SHAPE_NAMES,
    RowErrors,
    apply_filters,
    load,
    load_info,
    map_workers,
    row_keys,
    split_indices,
)
from domaintune.data.readers import FORMAT_NAMES
from domaintune.domain import Domain
from domaintune.errors import ConfigError, DataError, DomaintuneError
from domaintune.plugins import call_hook, collect, get_domain, wrap_callable

if TYPE_CHECKING:
    import datasets
    import numpy as np
    from transformers import PreTrainedTokenizerBase

MAX_LABELS = 50  # as run.class_labels
LABEL_GUESS_MAX = 20
"""Without a domain, data with at most this many distinct short completions is treated as
classification data."""
EXAMPLES = 3
PERCENTILES = (50, 90, 95, 99)
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
    """Settings as a run takes them (domain defaults, then --config, then options), then
    :func:`check_data`."""
    file_values = read_config_file(config_file) if config_file else {}
    cli_values = {key: value for key, value in options.items() if value is not None}
    domain_name = cli_values.get("domain", file_values.get("domain"))
    domain = get_domain(domain_name) if isinstance(domain_name, str) and domain_name else None
    config = build_config(
        {"domain": ""}, dict(domain.defaults) if domain else {}, file_values, cli_values
    )
    train = path or config.data or (domain.train_data if domain else None)
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
            if domain is None and role == "train" and _looks_like_labels(dataset):
                report.task_type = "classification"
            if report.task_type == "classification":
                source_report.labels = _labels(dataset)
            if tokenizer is not None:
                try:
                    source_report.tokens = _token_lengths(dataset, formatter, tokenizer, config.max_length)
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
            keys[role] = _keys(dataset_after)
            source_report.duplicates = _duplicates(keys[role])
        _judge_sources(report, domain)
        if "train" in filtered:
            if "eval" in filtered:
                report.contamination = _contamination(keys["train"], keys["eval"])
                if report.contamination["rows"]:
                    c = report.contamination
                    report.problems.append(
                        f"{c['rows']} of {c['eval_rows']} eval rows share their prompt with a train "
                        "row (after normalizing case and spaces), so the tuned score would be "
                        f"inflated (e.g. {_pairs(c['examples'], 'eval', 'train')}); remove them from "
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
                    f"{name}: {_rows(t['truncated'])} ({t['truncated'] / s.rows:.1%}) longer than "
                    f"max_length {report.max_length} tokens; training keeps their start and end and "
                    "cuts the middle of the prompt (raise --max-length to keep more)"
                )
            if t["answer_cut"]:
                report.warnings.append(
                    f"{name}: in {_rows(t['answer_cut'])} the answer alone is longer than max_length; "
                    "it is cut, and the model never learns its end"
                )
        if s.duplicates:
            d = s.duplicates
            if d["exact"] or d["normalized"]:
                report.warnings.append(
                    f"{name}: {_rows(d['exact'])} repeat an earlier row exactly and {d['normalized']:,} "
                    f"more after normalizing case and spaces (e.g. {_pairs(d['examples'], 'row', 'row')}); "
                    "repeated rows weigh more in training"
                )
            if d["conflicting_prompts"]:
                what = "labels" if classification else "completions"
                report.warnings.append(
                    f"{name}: {d['conflicting_prompts']} prompts appear with different {what} "
                    f"({_rows(d['conflicting_rows'])})"
                )


# Figures ------------------------------------------------------------------------------------


def _arrow_column(dataset: datasets.Dataset, name: str) -> Any:
    return dataset.with_format("arrow")[name]


def _looks_like_labels(dataset: datasets.Dataset) -> bool:
    import pyarrow.compute as pc

    completions = pc.utf8_trim_whitespace(_arrow_column(dataset, "completion"))
    distinct = pc.count_distinct(completions).as_py()
    longest = pc.max(pc.utf8_length(completions)).as_py() or 0
    return distinct <= LABEL_GUESS_MAX and len(dataset) >= 5 * distinct and longest <= 30


def _labels(dataset: datasets.Dataset) -> dict[str, int]:
    import pyarrow.compute as pc

    completions = pc.utf8_trim_whitespace(_arrow_column(dataset, "completion"))
    if pc.count_distinct(completions).as_py() > 1000:
        return {f"({pc.count_distinct(completions).as_py()} distinct)": len(dataset)}
    counts = {item["values"]: item["counts"] for item in pc.value_counts(completions).to_pylist()}
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


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
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        except Exception as exc:  # a damaged or unexpected GGUF file: the check goes on
            report.warnings.append(f"no token lengths: the default model's tokenizer did not load ({exc})")
            return None
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
    report.tokenizer = f"default ({gguf.stem})"
    return tokenizer


def _token_lengths(
    dataset: datasets.Dataset, formatter: Any, tokenizer: PreTrainedTokenizerBase, max_length: int
) -> dict[str, Any]:
    """Prompt and answer tokens per row, exactly as training encodes them."""
    import numpy as np

    from domaintune.data.encoding import split_prompt_answer, tokenize_texts

    def lengths(batch: dict[str, list[Any]]) -> dict[str, list[int]]:
        prompts, answers = split_prompt_answer(formatter(batch), tokenizer)
        return {
            "prompt_tokens": [len(ids) for ids in tokenize_texts(tokenizer, prompts)],
            "answer_tokens": [len(ids) for ids in tokenize_texts(tokenizer, answers)],
        }

    counted = dataset.map(
        lengths, batched=True, batch_size=256, num_proc=map_workers(len(dataset)),
        remove_columns=dataset.column_names, keep_in_memory=True, new_fingerprint=uuid.uuid4().hex,
    ).with_format("numpy")[:]
    prompt, answer = counted["prompt_tokens"], counted["answer_tokens"]
    total = prompt + answer
    return {
        "percentiles": {str(p): int(v) for p, v in zip(PERCENTILES, np.percentile(total, PERCENTILES, method="nearest"))},
        "max": int(total.max()),
        "mean": round(float(total.mean()), 1),
        "truncated": int((total > max_length).sum()),
        "answer_cut": int((answer > max_length - 1).sum()),
    }


def _keys(dataset: datasets.Dataset) -> dict[str, np.ndarray]:
    hashed = dataset.select_columns(["prompt", "completion"]).map(
        row_keys, batched=True, batch_size=2048, remove_columns=["prompt", "completion"],
        keep_in_memory=True, new_fingerprint=uuid.uuid4().hex,
    ).with_format("numpy")[:]
    return {name: hashed[name] for name in ("exact", "normalized", "prompt")}


def _duplicates(keys: dict[str, np.ndarray]) -> dict[str, Any]:
    import numpy as np

    rows = len(keys["exact"])
    exact = rows - len(np.unique(keys["exact"]))
    normalized = rows - len(np.unique(keys["normalized"])) - exact
    _, first_norm, inverse_norm = np.unique(keys["normalized"], return_index=True, return_inverse=True)
    repeats = np.flatnonzero(first_norm[inverse_norm.ravel()] != np.arange(rows))[:EXAMPLES]
    examples = [(int(i) + 1, int(first_norm[inverse_norm.ravel()[i]]) + 1) for i in repeats]
    pairs = np.unique(np.stack([keys["prompt"], keys["normalized"]], axis=1), axis=0)
    prompts, counts = np.unique(pairs[:, 0], return_counts=True)
    conflicting = prompts[counts > 1]
    return {
        "exact": int(exact),
        "normalized": int(normalized),
        "examples": examples,
        "conflicting_prompts": int(len(conflicting)),
        "conflicting_rows": int(np.isin(keys["prompt"], conflicting).sum()),
    }


def _contamination(train: dict[str, np.ndarray], eval_: dict[str, np.ndarray]) -> dict[str, Any]:
    import numpy as np

    shared = np.isin(eval_["prompt"], train["prompt"])
    rows = np.flatnonzero(shared)
    examples = []
    for i in rows[:EXAMPLES]:
        j = int(np.flatnonzero(train["prompt"] == eval_["prompt"][i])[0])
        examples.append((int(i) + 1, j + 1))
    return {"eval_rows": int(len(shared)), "rows": int(len(rows)), "examples": examples}


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


def _rows(count: int) -> str:
    return f"{count:,} row{'' if count == 1 else 's'}"


def _pairs(examples: list[tuple[int, int]], first: str, second: str) -> str:
    return ", ".join(f"{first} {a} = {second} {b}" for a, b in examples) or "none"


# Text output --------------------------------------------------------------------------------


def render_text(report: CheckReport) -> str:
    lines = [
        f"domain {report.domain or '(none)'}, {report.task_type}, max_length {report.max_length}, "
        f"tokenizer {report.tokenizer or '(none)'}"
    ]
    for s in report.sources:
        lines.append("")
        lines.append(f"{s.role}: {s.source}")
        if s.shape:
            fields = ", ".join(f"{k}={v}" for k, v in s.fields.items())
            how = "detected" if s.detected else "as set"
            lines.append(f"  rows        {s.rows:,} ({s.format}; {SHAPE_NAMES.get(s.shape, s.shape)}, {how}: {fields})")
        if s.problem_count:
            lines.append(f"  PROBLEMS    {s.problem_count:,}")
            lines.extend(f"    {p}" for p in s.problems[:20])
            if s.problem_count > 20:
                lines.append(f"    ... and {s.problem_count - 20:,} more (--json lists up to 1,000)")
        if s.labels is not None:
            total = sum(s.labels.values()) or 1
            shown = ", ".join(f"{label} {n:,} ({n / total:.1%})" for label, n in list(s.labels.items())[:10])
            more = f", and {len(s.labels) - 10} more" if len(s.labels) > 10 else ""
            lines.append(f"  labels      {shown}{more}")
        if s.tokens:
            t = s.tokens
            pct = ", ".join(f"p{p} {v}" for p, v in t["percentiles"].items())
            lines.append(f"  tokens      {pct}, max {t['max']:,} (prompt and answer, chat template applied)")
            lines.append(
                f"  truncated   {_rows(t['truncated'])} ({t['truncated'] / max(s.rows, 1):.1%}) over "
                f"{report.max_length} tokens; {t['answer_cut']:,} with the answer itself cut"
            )
        if s.duplicates:
            d = s.duplicates
            lines.append(
                f"  duplicates  {d['exact']:,} exact, {d['normalized']:,} more after normalizing; "
                f"{d['conflicting_prompts']:,} prompts with conflicting completions"
                + (f" (e.g. {_pairs(d['examples'], 'row', 'row')})" if d["examples"] else "")
            )
        if s.safety is not None:
            f = s.safety
            if not f["filters"]:
                lines.append("  safety      no data filters for this domain")
            else:
                counts = ", ".join(f"{kind} {n:,}" for kind, n in f["counts"].items()) or "nothing found"
                dropped = f" (e.g. rows {', '.join(map(str, f['dropped_rows']))})" if f["dropped_rows"] else ""
                lines.append(
                    f"  safety      {_rows(f['rows_changed'])} changed, {f['rows_dropped']:,} dropped{dropped}; "
                    f"{counts} [{', '.join(f['filters'])}]"
                )
    lines.append("")
    if report.split:
        sp = report.split
        lines.append(
            f"eval: {_rows(sp['eval_rows'])} held out from train (seed {sp['seed']}"
            f"{', stratified by label' if sp['stratified'] else ''}); {sp['train_rows']:,} train "
            f"rows remain, after leaving out {sp['left_out']:,} whose prompt is held out too"
        )
    elif report.contamination is not None:
        c = report.contamination
        lines.append(f"contamination: {c['rows']:,} of {c['eval_rows']:,} eval rows share a prompt with train")
    for warning in report.warnings:
        lines.append(f"warning: {warning}")
    problems = report.problems + [
        f"{s.role} data: {s.problem_count:,} bad row(s) or file problem(s), listed above"
        for s in report.sources if s.problem_count
    ]
    for problem in problems:
        lines.append(f"PROBLEM: {problem}")
    lines.append(
        "usable: yes" if report.usable else f"usable: no ({len(problems)} problem(s); fix them and check again)"
    )
    return "\n".join(lines)
