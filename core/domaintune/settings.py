"""A run's settings, resolved in one place: the domain (or the variant its data fits), the
RunConfig layered from that domain's defaults, a config file and the command line, the run
folder, the model, the data read to decide, and the domain's parts (each `make_*` hook called
once). The run, `tune data check`, `tune eval` and the process launcher all start here.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domaintune.config import RunConfig, build_config, read_config_file
from domaintune.data.prepare import load_source
from domaintune.data.tasks import matches_tasks
from domaintune.domain import Domain, Formatter, Metric, SafetyFilter
from domaintune.errors import ConfigError, DataError
from domaintune.plugins import call_hook, collect, get_domain, wrap_callable
from domaintune.rundir import check_output_dir

if TYPE_CHECKING:
    import datasets

RUNS_FOLDER = Path("runs")
"""Where run folders go when no output_dir is given."""


@dataclass(frozen=True)
class DomainParts:
    """What a domain's plugins hand over for one run: built once, passed down."""

    formatter: Formatter
    metrics: list[Metric]
    data_filters: list[SafetyFilter]
    output_filters: list[SafetyFilter]


def domain_parts(domain: Domain) -> DomainParts:
    """Call each `make_*` hook once for ``domain``."""
    from domaintune.evaluation.heldout import domain_metrics

    formatter = call_hook("make_formatter", domain=domain)
    return DomainParts(
        formatter=wrap_callable(f"the formatter of domain {domain.name!r}", formatter),
        metrics=domain_metrics(domain),
        data_filters=collect("make_data_filters", domain=domain),
        output_filters=collect("make_output_filters", domain=domain),
    )


@dataclass
class RunSettings:
    """A run's resolved settings; ``parts`` calls the domain's hooks on first use, once."""

    domain: Domain
    config: RunConfig
    asked_for: Domain | None = None
    """The domain asked for, when the data handed the run over to one of its variants."""
    train_rows: datasets.Dataset | None = None
    """``config.data`` as read to choose the domain (None: not read yet)."""

    @functools.cached_property
    def parts(self) -> DomainParts:
        return domain_parts(self.domain)


def resolve_settings(
    options: Mapping[str, Any], config_file: Path | None = None, *, for_run: bool = True
) -> RunSettings:
    """Settings from the command line's ``options`` (None: not given) over ``config_file``
    over the domain's defaults; the domain is the variant ``--data`` fits (see
    `Domain.variants`). Every invalid setting is reported before any data is read. With
    ``for_run``, the run folder is chosen and checked and the model checked too."""
    file_values = read_config_file(config_file) if config_file else {}
    given = {**file_values, **{key: value for key, value in options.items() if value is not None}}
    name = given.get("domain")
    asked = get_domain(name) if isinstance(name, str) and name else None
    build_config(dict(asked.defaults) if asked else {}, given)  # every error, before any work
    if asked is None:  # an empty name; build_config has refused a missing or mistyped one
        raise ConfigError("domain: must be set; pass --domain NAME (see `tune plugins`)")
    if for_run:
        check_output_dir(given.get("output_dir") or RUNS_FOLDER)
    domain, rows = asked, None
    if asked.variants and given.get("data") is not None:
        try:
            rows = load_source(asked, given["data"], given.get("column_map"), given.get("shape", "auto"))
        except DataError:
            rows = None  # the run reads it again and reports the error where it belongs
        if rows is not None:
            domain = variant_for_rows(asked, rows)
    config = build_config(dict(domain.defaults), given, {"domain": domain.name})
    settings = RunSettings(domain, config, asked if domain != asked else None, rows)
    return _for_run(settings) if for_run else settings


def settings_for(config: RunConfig, *, for_run: bool = True) -> RunSettings:
    """The settings of a RunConfig built elsewhere (a run folder's config.yaml, a test): its
    domain as named, no variant chosen again."""
    settings = RunSettings(get_domain(config.domain), config)
    return _for_run(settings) if for_run else settings


def _for_run(settings: RunSettings) -> RunSettings:
    config = settings.config
    check_model(config.model)
    if not config.output_dir:
        settings.config = dataclasses.replace(config, output_dir=str(default_run_dir(config.domain)))
    check_output_dir(settings.config.output_dir or RUNS_FOLDER)
    return settings


def default_run_dir(domain_name: str) -> Path:
    """runs/<domain>-<date>-<time>-<pid>: two jobs started in the same second get two folders."""
    return RUNS_FOLDER / f"{domain_name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"


def check_model(model: str | None) -> None:
    """A --model that names a local folder must be one; hub names (``org/name``) are left to
    the loader. Checked before anything is read or written."""
    if model is None:
        return
    path = Path(model).expanduser()
    if path.is_dir():
        return
    parts = Path(model).parts
    path_like = (
        model.startswith((".", "~", os.sep))
        or (os.altsep is not None and os.altsep in model)
        or len(parts) > 2
        or (len(parts) == 2 and Path(parts[0]).is_dir())
    )
    if path_like:
        problem = "is a file, not a folder" if path.exists() else "no such folder"
        raise ConfigError(
            f"model: {model!r}: {problem}. Pass --model with a folder holding config.json, the "
            "weights and the tokenizer, a hub name such as HuggingFaceTB/SmolLM2-135M-Instruct, "
            "or leave --model out to use the embedded default."
        )



def domain_for_data(
    domain: Domain, source: str | Path | None, column_map: dict[str, str] | None = None, shape: str = "auto"
) -> Domain:
    """The domain that fits ``source`` (see :func:`variant_for_rows`); reads ``source`` only
    when the domain has variants."""
    if not domain.variants or source is None:
        return domain
    try:
        rows = load_source(domain, source, column_map, shape)
    except DataError:
        return domain
    return variant_for_rows(domain, rows)


def variant_for_rows(domain: Domain, rows: datasets.Dataset) -> Domain:
    """A variant whose ``tasks`` match every row's task, else the one the answers fit:
    ``domain`` itself or one of its ``variants`` (see `Domain.variants`)."""
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
