"""One domain job, top to bottom: data, safety filters, split, base score, fine-tune, tuned
score, run folder. The CLI renders what this returns; nothing here prints.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from domaintune import __version__
from domaintune.canary_probe import PlantedRows, probe_planted
from domaintune.comparison import flipped_rows, paired_bootstrap
from domaintune.config import RunConfig
from domaintune.data import FilterReport, apply_filters, cap_rows_per_task, split_train_eval
from domaintune.domain import Domain, Metric
from domaintune.errors import ConfigError, DataError, PluginError
from domaintune.evaluation import (
    Predicted,
    Progress,
    compute_metrics,
    metrics_by_group,
    predict,
    render_eval_set,
)
from domaintune.files import write_json_atomic, write_jsonl_atomic, write_text_atomic
from domaintune.metrics import majority_baseline
from domaintune.plugins import blame, call_hook, collect, get_domain, wrap_callable
from domaintune.report import render_html, render_markdown, render_model_card
from domaintune.safety import leaked_canaries, make_canaries, plant_canaries
from domaintune.tasks import matches_tasks, select_tasks

if TYPE_CHECKING:
    import datasets

MAX_LABELS = 50
MAX_FLIP_EXAMPLES = 5
CANARY_KINDS = ("SSN", "PHONE", "EMAIL")
"""Identifier kinds every domain's filters must catch; the kinds planted as canaries."""


class Reporter(Protocol):
    """How a job shows progress; the CLI gives a rich one, tests a silent one."""

    def step(self, message: str) -> None: ...

    def progress(self, description: str, total: float) -> contextlib.AbstractContextManager[Progress]: ...


class SilentReporter:
    def step(self, message: str) -> None:
        pass

    @contextlib.contextmanager
    def progress(self, description: str, total: float) -> Iterator[Progress]:
        yield lambda n: None


@dataclass
class RunOutcome:
    run_dir: Path
    summary: dict[str, Any]
    """Everything written to metrics.json (empty on processes other than the first)."""
    is_main: bool = True


def load_source(
    domain: Domain, source: str | Path, column_map: dict[str, str] | None = None, shape: str = "auto"
) -> datasets.Dataset:
    dataset = call_hook(
        "load_data", domain=domain, source=str(source), column_map=dict(column_map or {}), shape=shape
    )
    if dataset is None:
        raise DataError(f"No plugin could read {source} for domain {domain.name!r}.")
    missing = {"prompt", "completion"} - set(dataset.column_names)
    if missing:
        raise PluginError(
            f"The load_data hook for domain {domain.name!r} returned a dataset without "
            f"column(s) {sorted(missing)} for {source}; load_data must return prompt and "
            "completion columns."
        )
    return dataset


def domain_for_data(
    domain: Domain, source: str | Path | None, column_map: dict[str, str] | None = None, shape: str = "auto"
) -> Domain:
    """The domain that fits ``source``: a variant whose ``tasks`` match every row's task, else
    the one its answers fit: ``domain`` itself or one of its ``variants`` (see
    `Domain.variants`). Reads ``source`` only when the domain has variants."""
    if not domain.variants or source is None:
        return domain
    try:
        rows = load_source(domain, source, column_map, shape)
    except DataError:
        return domain  # loading it again reports the error, after the config is checked
    answers = {answer.strip() for answer in rows.unique("completion")}
    tasks = set(rows.unique("task")) if "task" in rows.column_names else set()
    variants = [get_domain(name) for name in domain.variants]
    for variant in variants:
        if tasks and variant.tasks and answers <= set(variant.labels) and all(
            matches_tasks(str(task), variant.tasks) for task in tasks
        ):
            return variant
    if domain.task_type == "classification" and answers <= set(domain.labels):
        return domain
    for variant in variants:
        if not variant.tasks and variant.task_type == "classification" and answers <= set(variant.labels):
            return variant
    if domain.task_type == "generation":
        return domain
    return next((variant for variant in variants if variant.task_type == "generation"), domain)


def measure_filters(domain: Domain) -> dict[str, dict[str, Any]]:
    """Each safety filter's figures on its pack's labelled test set (`SafetyFilter.evaluate`),
    by filter name: the report says how well the filters that ran are known to work."""
    figures = {}
    for safety_filter in [*collect("make_data_filters", domain=domain), *collect("make_output_filters", domain=domain)]:
        if safety_filter.evaluate is not None:
            with blame(f"the evaluate function of safety filter {safety_filter.name!r}"):
                figures[safety_filter.name] = dict(safety_filter.evaluate())
    return figures


def domain_metrics(domain: Domain) -> list[Metric]:
    metrics = collect("make_metrics", domain=domain)
    names = [metric.name for metric in metrics]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise PluginError(
            f"Metric name(s) {duplicated} are returned more than once by make_metrics for "
            f"domain {domain.name!r}; give each plugin's metrics distinct names."
        )
    return metrics


def class_labels(domain: Domain, *datasets_: datasets.Dataset) -> list[str]:
    """The label set: the domain's, plus any label the data uses."""
    labels = list(domain.labels)
    for dataset in datasets_:
        for completion in dataset.unique("completion"):
            if completion.strip() not in labels:
                labels.append(completion.strip())
    if len(labels) > MAX_LABELS:
        raise DataError(
            f"Domain {domain.name!r} is a classification domain, but the data has "
            f"{len(labels)} distinct completions (more than {MAX_LABELS}); give "
            "label completions, or use a generation domain."
        )
    return labels


def open_run_dir(config: RunConfig, resume: bool) -> Path:
    """A new run folder, or the folder of an interrupted run started with the same settings
    (its newest complete checkpoint is then resumed). Never overwrites a finished run."""
    if not config.output_dir:
        if resume:
            raise ConfigError("--resume needs --output-dir: the folder of the run to resume.")
        run_dir = Path("runs") / f"{config.domain}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir
    run_dir = Path(config.output_dir)
    if not run_dir.exists() or not any(run_dir.iterdir()):
        if resume:
            raise ConfigError(f"--resume: {run_dir} holds no run to resume; leave out --resume to start one.")
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir
    saved = run_dir / "config.yaml"
    if (run_dir / "metrics.json").exists():
        raise ConfigError(
            f"output_dir: {run_dir} holds a finished run; choose a new folder so that it is "
            "not overwritten."
        )
    if not saved.exists():
        raise ConfigError(
            f"output_dir: {run_dir} already holds files that are not a domaintune run; "
            "choose a new folder."
        )
    previous, current = yaml.safe_load(saved.read_text(encoding="utf-8")), config.to_dict()
    changed = [
        f"{key}: {previous.get(key)!r} -> {current.get(key)!r}"
        for key in sorted(set(previous) | set(current))
        if previous.get(key) != current.get(key)
    ]
    if changed:
        raise ConfigError(
            f"output_dir: {run_dir} holds an interrupted run started with other settings "
            f"({'; '.join(changed)}). Run the same command to resume it, or choose a new folder."
        )
    return run_dir


def prepare_data(
    domain: Domain, config: RunConfig
) -> tuple[datasets.Dataset, datasets.Dataset, dict[str, Any]]:
    """Load, filter and split; returns train, eval and what happened, for the report."""
    train_source = config.data or domain.train_data
    if train_source is None:
        raise ConfigError(
            f"data: domain {domain.name!r} ships no sample data; pass --data PATH."
        )
    eval_source = config.eval_data or (domain.eval_data if config.data is None else None)
    train_set = load_source(domain, train_source, config.column_map, config.shape)
    eval_set = load_source(domain, eval_source, config.column_map, config.shape) if eval_source else None
    if config.task:
        train_set = select_tasks(train_set, config.task, str(train_source))
        if eval_set is not None:
            eval_set = select_tasks(eval_set, config.task, str(eval_source))

    filters = collect("make_data_filters", domain=domain)
    canaries = make_canaries(CANARY_KINDS, config.canaries, config.seed) if config.canaries else []
    if canaries:
        # Unique fake identifiers planted in the prompts: the filters must remove every one.
        planted = plant_canaries(list(train_set["prompt"]), canaries, config.seed)
        train_set = train_set.remove_columns("prompt").add_column("prompt", planted)
        planted_rows = PlantedRows.from_dataset(train_set, canaries)  # before the filters, for the model probe
    train_set, train_filtered = apply_filters(train_set, filters)
    stratify = domain.task_type == "classification"
    if eval_set is None:
        train_set, eval_set = split_train_eval(train_set, config.eval_rows, config.seed, stratify)
        eval_filtered = FilterReport()
    else:
        eval_set, eval_filtered = apply_filters(eval_set, filters)
        if len(eval_set) > config.eval_rows:
            eval_set = eval_set.shuffle(seed=config.seed).select(range(config.eval_rows))
    if config.max_rows_per_task:
        train_set = cap_rows_per_task(train_set, config.max_rows_per_task, config.seed)
    if config.max_train_rows and len(train_set) > config.max_train_rows:
        train_set = train_set.shuffle(seed=config.seed).select(range(config.max_train_rows))
    info = {
        "train_source": str(train_source),
        "eval_source": str(eval_source) if eval_source else f"held out from {train_source}",
        "train_rows": len(train_set),
        "max_rows_per_task": config.max_rows_per_task,
        "eval_rows": len(eval_set),
        "safety_filters": [f.name for f in filters],
        "train_filter": train_filtered.as_dict(),
        "eval_filter": eval_filtered.as_dict(),
        "attribution": domain.data_attribution if config.data is None else "",
    }
    if canaries:
        leaked = leaked_canaries([*train_set["prompt"], *train_set["completion"]], canaries)
        info["canaries"] = {
            "planted": len(canaries),
            "survived_filters": len(leaked),
            "survivors": [f"{c.kind} {c.value}" for c in leaked],
        }
        # Unfiltered text, not JSON: run_job and evaluate_run pop it before writing anything.
        info["planted_rows"] = planted_rows
    return train_set, eval_set, info


def _by_group(
    metrics: list[Metric], base: list[str], tuned: list[str], references: list[str], columns: dict[str, list[str]]
) -> dict[str, dict[str, dict[str, Any]]]:
    """column -> group -> {"rows", "base", "tuned"}: per-task figures for multi-task eval sets."""
    base_groups = metrics_by_group(metrics, base, references, columns)
    tuned_groups = metrics_by_group(metrics, tuned, references, columns)
    return {
        column: {
            group: {
                "rows": columns[column].count(group),
                "base": values,
                "tuned": tuned_groups[column][group],
            }
            for group, values in groups.items()
        }
        for column, groups in base_groups.items()
    }


def _add_majority_by_group(
    by_group: dict[str, dict[str, dict[str, Any]]],
    train_set: datasets.Dataset,
    references: list[str],
    columns: dict[str, list[str]],
) -> None:
    """Each group's majority-class baseline: its most common training label, always given."""
    for column, groups in by_group.items():
        if column not in train_set.column_names:
            continue
        train_labels: dict[str, list[str]] = {}
        for label, group in zip(train_set["completion"], train_set[column]):
            train_labels.setdefault(group, []).append(label.strip())
        for group, entry in groups.items():
            if group in train_labels:
                group_references = [r for r, g in zip(references, columns[column]) if g == group]
                label, accuracy = majority_baseline(train_labels[group], group_references)
                entry["majority_baseline"] = {"label": label, "accuracy": accuracy}


@dataclass
class Scoring:
    """Everything needed to score a model on a run's held-out rows, built once per run."""

    domain: Domain
    config: RunConfig
    tokenizer: Any
    prompts: list[str]
    references: list[str]
    labels: list[str]
    metrics: list[Metric]
    output_filters: list[Any]
    columns: dict[str, list[str]]
    processes: Any
    reporter: Reporter

    @classmethod
    def build(
        cls, domain: Domain, config: RunConfig, tokenizer: Any, formatter: Any,
        train_set: datasets.Dataset, eval_set: datasets.Dataset, processes: Any, reporter: Reporter,
    ) -> Scoring:
        metrics = domain_metrics(domain)
        group_columns = {m.group_by for m in metrics if m.group_by} & set(eval_set.column_names)
        prompts, references = render_eval_set(eval_set, formatter, tokenizer, domain.name)
        return cls(
            domain=domain,
            config=config,
            tokenizer=tokenizer,
            prompts=prompts,
            references=references,
            labels=class_labels(domain, train_set, eval_set) if domain.task_type == "classification" else [],
            metrics=metrics,
            output_filters=collect("make_output_filters", domain=domain),
            columns={name: eval_set[name] for name in sorted(group_columns)},
            processes=processes,
            reporter=reporter,
        )

    def predict(self, model: Any, which: str) -> Predicted:
        """Each process predicts its share of the rows; all get every prediction back."""
        from domaintune.train import use_bf16

        processes, config = self.processes, self.config
        with self.reporter.progress(
            f"Scoring the {which} model", total=len(self.prompts) / processes.world
        ) as advance:
            mine = predict(
                model, self.tokenizer, self.domain, processes.shard(self.prompts), self.labels,
                self.output_filters, config.max_length, config.eval_batch_size,
                use_bf16(config.precision), advance,
            )
        if processes.world == 1:
            return mine
        counts: dict[str, int] = {}
        for shard_counts in processes.gather(mine.output_filter_counts):
            for kind, n in shard_counts.items():
                counts[kind] = counts.get(kind, 0) + n
        return Predicted(
            predictions=processes.unshard(mine.predictions),
            seconds=max(processes.gather(mine.seconds)),
            output_filter_counts=counts,
        )

    def general_knowledge(self, model: Any) -> tuple[float, int]:
        from domaintune.forgetting import general_knowledge_accuracy
        from domaintune.train import use_bf16

        return general_knowledge_accuracy(model, self.tokenizer, use_bf16(self.config.precision))

    def compare(
        self, base: Predicted, tuned: Predicted, train_set: datasets.Dataset
    ) -> tuple[dict[str, Any], list[dict[str, str]]]:
        """Base vs tuned: metrics, bootstrap intervals, per-task figures, baselines, flips;
        and one row per held-out example for predictions.jsonl."""
        metrics, references, columns = self.metrics, self.references, self.columns
        summary: dict[str, Any] = {
            "base": compute_metrics(metrics, base.predictions, references, columns),
            "tuned": compute_metrics(metrics, tuned.predictions, references, columns),
            "eval_seconds": {"base": base.seconds, "tuned": tuned.seconds},
            "output_filter": {"base": base.output_filter_counts, "tuned": tuned.output_filter_counts},
            "tuned_minus_base": {
                metric.name: vars(
                    paired_bootstrap(
                        metric, base.predictions, tuned.predictions, references, self.config.seed, columns
                    )
                )
                for metric in metrics
            },
            "by_group": _by_group(metrics, base.predictions, tuned.predictions, references, columns),
        }
        if self.domain.task_type == "classification":
            _add_majority_by_group(summary["by_group"], train_set, references, columns)
            label, accuracy = majority_baseline(train_set["completion"], references)
            summary["majority_baseline"] = {"label": label, "accuracy": accuracy}
        flips = flipped_rows(base.predictions, tuned.predictions, references)
        summary["flips"] = {kind: len(rows) for kind, rows in flips.items()}
        flip_of = {i: kind for kind, rows in flips.items() for i in rows}
        rows = [
            {"prompt": p, "reference": r, "base": b, "tuned": t, "flip": flip_of.get(i, "")}
            for i, (p, r, b, t) in enumerate(
                zip(self.prompts, references, base.predictions, tuned.predictions)
            )
        ]
        summary["flip_examples"] = {
            kind: [rows[i] for i in indices[:MAX_FLIP_EXAMPLES]] for kind, indices in flips.items()
        }
        return summary, rows


def _quiet_libraries() -> None:
    """The job reports its own progress; the libraries' bars for quick steps are noise."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()


def run_job(config: RunConfig, reporter: Reporter | None = None, resume: bool = False) -> RunOutcome:
    """Run a whole domain job and write its run folder.

    Run again with the same settings on the same ``output_dir`` after a crash or a kill, and
    training continues from the newest complete checkpoint (``resume`` insists on one).
    """
    import transformers

    from domaintune.distributed import device_for, start_processes
    from domaintune.model import load_model, load_tokenizer, resolve_model
    from domaintune.train import cast_frozen_weights, prepare_model, tokenize_dataset, train, use_bf16

    _quiet_libraries()
    processes = start_processes()
    reporter = reporter if reporter and processes.is_main else SilentReporter()
    started = time.monotonic()
    random.seed(config.seed)
    transformers.set_seed(config.seed)  # the LoRA weights are initialised before Trainer seeds
    domain = get_domain(config.domain)

    reporter.step(f"Loading and checking data for domain {domain.name!r}")
    train_set, eval_set, data_info = prepare_data(domain, config)
    planted_rows = data_info.pop("planted_rows", None)
    if processes.is_main:
        reporter.step("Measuring the safety filters on their labelled test sets")
        data_info["filter_figures"] = measure_filters(domain)
        run_dir = open_run_dir(config, resume)
        write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
    run_dir = processes.from_main(run_dir if processes.is_main else None)

    reporter.step("Loading the model")
    if processes.is_main:  # the default model is converted once, by one process
        resolve_model(config.model)
    processes.barrier()
    model_path = resolve_model(config.model)
    tokenizer = load_tokenizer(model_path)
    # Base and tuned models are scored with the weights in the dtype training uses.
    model = load_model(model_path, quantize_4bit=config.method == "qlora")
    model = cast_frozen_weights(model, config).to(device_for(processes))
    formatter = wrap_callable(
        f"the formatter of domain {domain.name!r}", call_hook("make_formatter", domain=domain)
    )
    scoring = Scoring.build(domain, config, tokenizer, formatter, train_set, eval_set, processes, reporter)

    base = scoring.predict(model, "base")
    general_base, general_rows = scoring.general_knowledge(model)

    reporter.step("Fine-tuning")
    train_tokens = tokenize_dataset(train_set, formatter, tokenizer, config.max_length, domain.name)
    model = prepare_model(model, config)
    trained = train(model, tokenizer, train_tokens, config, run_dir / "checkpoints", resume, processes=processes)
    model_dir = run_dir / ("adapter" if config.uses_adapter else "model")
    if processes.is_main:
        model.save_pretrained(model_dir)
        tokenizer.save_pretrained(model_dir)
    if config.uses_adapter:
        # Scoring with the adapter folded into the weights costs what the base model costs;
        # unmerged, every linear layer runs two more matmuls (PubMedQA, 150 rows: 96 s for
        # the base model, 216 s for the unmerged tuned one, on a busy 2-core machine).
        model = model.merge_and_unload()

    tuned = scoring.predict(model, "tuned")
    general_tuned, _ = scoring.general_knowledge(model)
    if not processes.is_main:
        return RunOutcome(run_dir=run_dir, summary={}, is_main=False)
    if planted_rows is not None:
        reporter.step("Probing the tuned model for the planted canaries")
        probe = probe_planted(
            model, tokenizer, planted_rows, formatter, domain.name, config.max_length,
            config.eval_batch_size, use_bf16(config.precision),
        )
        data_info["canaries"]["tuned_model"] = probe.as_dict()

    comparison, predictions = scoring.compare(base, tuned, train_set)
    summary: dict[str, Any] = {
        "domaintune_version": __version__,
        "domain": domain.name,
        "task_type": domain.task_type,
        "model": config.model or f"default ({model_path})",
        "labels": scoring.labels,
        "data": data_info,
        **comparison,
        "general_knowledge": {"base": general_base, "tuned": general_tuned, "rows": general_rows},
        "train": {
            "steps": trained.steps,
            "epochs": trained.epochs,
            "seconds": trained.seconds,
            "tokens": trained.tokens,
            "tokens_per_second": trained.tokens_per_second,
            "stopped_by_time_budget": trained.stopped_by_budget,
            "stopped_early": trained.stopped_early,
            "best_eval_loss": trained.best_eval_loss,
            "micro_batch_changes": trained.micro_batch_changes,
            "resumed_from": trained.resumed_from,
            "loss_history": [
                {"step": entry["step"], "loss": entry["loss"]}
                for entry in trained.log_history
                if "loss" in entry
            ],
        },
        "wall_seconds": time.monotonic() - started,
    }
    write_jsonl_atomic(run_dir / "predictions.jsonl", predictions)
    write_json_atomic(run_dir / "metrics.json", summary)
    write_text_atomic(run_dir / "report.md", render_markdown(summary))
    write_text_atomic(run_dir / "report.html", render_html(summary, config.to_dict()))
    write_text_atomic(model_dir / "README.md", render_model_card(summary, config.model or model_path))
    return RunOutcome(run_dir=run_dir, summary=summary)


def evaluate_run(run_dir: Path, reporter: Reporter | None = None) -> dict[str, Any]:
    """Score a finished run's base and tuned models again on its held-out rows, with the
    settings it was trained with; writes ``eval.json`` in the run folder and returns it."""
    from domaintune.config import build_config
    from domaintune.distributed import start_processes
    from domaintune.model import load_model, load_tokenizer, resolve_model
    from domaintune.train import cast_frozen_weights

    reporter = reporter or SilentReporter()
    saved = run_dir / "config.yaml"
    if not saved.is_file():
        raise ConfigError(f"{run_dir} is not a run folder (no config.yaml); pass the folder a run wrote.")
    config = build_config(yaml.safe_load(saved.read_text(encoding="utf-8")))
    tuned_dir = run_dir / ("adapter" if config.uses_adapter else "model")
    if not tuned_dir.is_dir():
        raise ConfigError(f"{run_dir} holds no trained model ({tuned_dir.name}/): the run did not finish.")
    _quiet_libraries()
    domain = get_domain(config.domain)
    reporter.step(f"Loading held-out data for domain {domain.name!r}")
    train_set, eval_set, data_info = prepare_data(domain, config)
    data_info.pop("planted_rows", None)
    reporter.step("Loading the models")
    model_path = resolve_model(config.model)
    tokenizer = load_tokenizer(model_path)
    formatter = wrap_callable(
        f"the formatter of domain {domain.name!r}", call_hook("make_formatter", domain=domain)
    )
    scoring = Scoring.build(
        domain, config, tokenizer, formatter, train_set, eval_set, start_processes(), reporter
    )
    model = cast_frozen_weights(load_model(model_path, quantize_4bit=config.method == "qlora"), config)
    base = scoring.predict(model, "base")
    general_base, general_rows = scoring.general_knowledge(model)
    if config.uses_adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, tuned_dir).merge_and_unload()
    else:
        model = load_model(str(tuned_dir))
    tuned = scoring.predict(model, "tuned")
    general_tuned, _ = scoring.general_knowledge(model)
    comparison, _ = scoring.compare(base, tuned, train_set)
    summary = {
        "domain": domain.name,
        "model": config.model or f"default ({model_path})",
        "data": data_info,
        **comparison,
        "general_knowledge": {"base": general_base, "tuned": general_tuned, "rows": general_rows},
    }
    write_json_atomic(run_dir / "eval.json", summary)
    return summary
