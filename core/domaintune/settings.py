"""Resolving a run's settings: which domain fits the data, and its defaults."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from domaintune.data.prepare import load_source
from domaintune.data.tasks import matches_tasks
from domaintune.domain import Domain
from domaintune.errors import DataError
from domaintune.plugins import get_domain

if TYPE_CHECKING:
    pass


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
