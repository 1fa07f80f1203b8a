"""Default data loader: every format and row shape the core reads (see domaintune.data.readers and domaintune.data.columns)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from domaintune import Domain, hookimpl
from domaintune.data.loading import read_data

if TYPE_CHECKING:
    import datasets


@hookimpl(trylast=True)
def load_data(
    domain: Domain, source: str, column_map: Mapping[str, str], shape: str
) -> datasets.Dataset:
    # trylast: a plugin that reads a format of its own sees the source first.
    return read_data(source, shape=shape, column_map=column_map, domain_name=domain.name)
