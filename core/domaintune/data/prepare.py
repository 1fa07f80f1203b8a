"""A run's data: load the sources through the plugins, plant canaries, filter, split and cap."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from domaintune.config import RunConfig
from domaintune.data.filtering import FilterReport, apply_filters
from domaintune.data.labels import strip_labels
from domaintune.data.overlap import drop_eval_overlap
from domaintune.data.split import cap_rows_per_task, split_train_eval
from domaintune.data.tasks import select_tasks
from domaintune.domain import Domain, SafetyFilter
from domaintune.errors import ConfigError, DataError, PluginError
from domaintune.plugins import call_hook, collect
from domaintune.safety.canary_probe import PlantedRows
from domaintune.safety.canaries import domain_canaries, leaked_canaries, plant_canaries

if TYPE_CHECKING:
    import datasets


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


def prepare_data(
    domain: Domain,
    config: RunConfig,
    filters: list[SafetyFilter] | None = None,
    train_rows: datasets.Dataset | None = None,
) -> tuple[datasets.Dataset, datasets.Dataset, dict[str, Any]]:
    """Load, filter and split; returns train, eval and what happened, for the report.

    ``filters``: the domain's data filters when the caller has them (a run calls each hook
    once, see domaintune.settings); ``train_rows``: ``config.data`` already read."""
    train_source = config.data or domain.train_data
    if train_source is None:
        raise ConfigError(
            f"data: domain {domain.name!r} ships no sample data; pass --data PATH."
        )
    eval_source = config.eval_data or (domain.eval_data if config.data is None else None)
    train_set = train_rows if train_rows is not None else load_source(domain, train_source, config.column_map, config.shape)
    eval_set = load_source(domain, eval_source, config.column_map, config.shape) if eval_source else None
    if config.task:
        train_set = select_tasks(train_set, config.task, str(train_source))
        if eval_set is not None:
            eval_set = select_tasks(eval_set, config.task, str(eval_source))
    labels_normalised = 0
    if domain.task_type == "classification":  # scoring strips labels: train on what is scored
        train_set, labels_normalised = strip_labels(train_set)
        if eval_set is not None:
            eval_set, eval_changed = strip_labels(eval_set)
            labels_normalised += eval_changed
    eval_overlap_dropped = 0
    if eval_set is not None:
        train_set, eval_overlap_dropped = drop_eval_overlap(train_set, eval_set, str(train_source), str(eval_source))

    filters = collect("make_data_filters", domain=domain) if filters is None else filters
    canaries = domain_canaries(domain, config.canaries, config.seed) if config.canaries else []
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
        "labels_normalised": labels_normalised,
        "eval_overlap_dropped": eval_overlap_dropped,
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
