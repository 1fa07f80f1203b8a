"""The safety filters' own figures on their packs' labelled test sets, for the report."""

from __future__ import annotations

from typing import Any

from domaintune.domain import Domain, SafetyFilter
from domaintune.plugins import blame, collect


def measure_filters(domain: Domain, filters: list[SafetyFilter] | None = None) -> dict[str, dict[str, Any]]:
    """Each safety filter's figures on its pack's labelled test set (`SafetyFilter.evaluate`),
    by filter name: the report says how well the filters that ran are known to work.
    ``filters``: the domain's data and output filters when the caller has them (a run calls
    each hook once, see domaintune.settings)."""
    if filters is None:
        filters = [*collect("make_data_filters", domain=domain), *collect("make_output_filters", domain=domain)]
    figures = {}
    for safety_filter in filters:
        if safety_filter.evaluate is not None:
            with blame(f"the evaluate function of safety filter {safety_filter.name!r}"):
                figures[safety_filter.name] = dict(safety_filter.evaluate())
    return figures
