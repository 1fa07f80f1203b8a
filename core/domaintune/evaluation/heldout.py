"""Scoring a model on a run's held-out rows: labels, metrics, base vs tuned comparison."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from domaintune.config import RunConfig
from domaintune.domain import Domain, Metric
from domaintune.errors import DataError, PluginError
from domaintune.evaluation.comparison import flipped_rows, paired_bootstrap
from domaintune.evaluation.metrics import majority_baseline
from domaintune.evaluation.scoring import (
    Predicted,
    compute_metrics,
    metrics_by_group,
    predict,
    render_eval_rows,
)
from domaintune.plugins import blame, collect
from domaintune.progress import Reporter

if TYPE_CHECKING:
    import datasets

    from domaintune.settings import DomainParts


MAX_LABELS = 50
MAX_FLIP_EXAMPLES = 5


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
    user_texts: list[str] = field(default_factory=list)
    """Each row's last user message, untemplated (predictions.jsonl's user_text)."""

    @classmethod
    def build(
        cls, domain: Domain, config: RunConfig, tokenizer: Any, parts: DomainParts,
        train_set: datasets.Dataset, eval_set: datasets.Dataset, processes: Any, reporter: Reporter,
    ) -> Scoring:
        group_columns = {m.group_by for m in parts.metrics if m.group_by} & set(eval_set.column_names)
        prompts, references, user_texts = render_eval_rows(eval_set, parts.formatter, tokenizer, domain.name)
        return cls(
            domain=domain,
            config=config,
            tokenizer=tokenizer,
            prompts=prompts,
            references=references,
            labels=class_labels(domain, train_set, eval_set) if domain.task_type == "classification" else [],
            metrics=parts.metrics,
            output_filters=parts.output_filters,
            columns={name: eval_set[name] for name in sorted(group_columns)},
            processes=processes,
            reporter=reporter,
            user_texts=user_texts,
        )

    def predict(self, model: Any, which: str) -> Predicted:
        """Each process predicts its share of the rows; all get every prediction back."""
        from domaintune.precision import use_bf16

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
        from domaintune.evaluation.forgetting import general_knowledge_accuracy
        from domaintune.precision import use_bf16

        return general_knowledge_accuracy(model, self.tokenizer, use_bf16(self.config.precision))

    def compare(
        self, base: Predicted, tuned: Predicted, train_set: datasets.Dataset
    ) -> tuple[dict[str, Any], list[dict[str, str]]]:
        """Base vs tuned: metrics, bootstrap intervals, per-task figures, baselines, flips;
        and one row per held-out example for predictions.jsonl.

        A metric that raises is left out, and its PluginError's message kept under
        ``metric_errors``: what the other metrics computed is still written (see run_job)."""
        references, columns = self.references, self.columns
        summary: dict[str, Any] = {
            "base": {},
            "tuned": {},
            "eval_seconds": {"base": base.seconds, "tuned": tuned.seconds},
            "output_filter": {"base": base.output_filter_counts, "tuned": tuned.output_filter_counts},
            "tuned_minus_base": {},
        }
        by_group: dict[str, dict[str, dict[str, Any]]] = {}
        errors: dict[str, str] = {}
        for metric in self.metrics:
            try:
                with blame(f"metric {metric.name!r} of domain {self.domain.name!r} (hook make_metrics)"):
                    values = {
                        which: compute_metrics([metric], predicted.predictions, references, columns)[metric.name]
                        for which, predicted in (("base", base), ("tuned", tuned))
                    }
                    change = paired_bootstrap(
                        metric, base.predictions, tuned.predictions, references, self.config.seed, columns
                    )
                    grouped = _by_group([metric], base.predictions, tuned.predictions, references, columns)
            except PluginError as error:
                errors[metric.name] = str(error)
                continue
            summary["base"][metric.name], summary["tuned"][metric.name] = values["base"], values["tuned"]
            summary["tuned_minus_base"][metric.name] = vars(change)
            for column, groups in grouped.items():
                for group, entry in groups.items():
                    merged = by_group.setdefault(column, {}).setdefault(
                        group, {"rows": entry["rows"], "base": {}, "tuned": {}}
                    )
                    merged["base"].update(entry["base"])
                    merged["tuned"].update(entry["tuned"])
        summary["by_group"] = by_group
        if errors:
            summary["metric_errors"] = errors
        if self.domain.task_type == "classification":
            _add_majority_by_group(summary["by_group"], train_set, references, columns)
            label, accuracy = majority_baseline(train_set["completion"], references)
            summary["majority_baseline"] = {"label": label, "accuracy": accuracy}
        flips = flipped_rows(base.predictions, tuned.predictions, references)
        summary["flips"] = {kind: len(rows) for kind, rows in flips.items()}
        flip_of = {i: kind for kind, rows in flips.items() for i in rows}
        rows = [
            {"prompt": p, "user_text": u, "reference": r, "base": b, "tuned": t, "flip": flip_of.get(i, "")}
            for i, (p, u, r, b, t) in enumerate(
                zip(self.prompts, self.user_texts, references, base.predictions, tuned.predictions)
            )
        ]
        summary["flip_examples"] = {
            kind: [rows[i] for i in indices[:MAX_FLIP_EXAMPLES]] for kind, indices in flips.items()
        }
        return summary, rows
