"""Columnar sources as raw rows, batch by batch: Parquet files, folders saved with
``datasets`` (save_to_disk), and ``datasets.load_dataset`` names (hub datasets, or a local
folder of data files); integer class labels keep their names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from domaintune.data.cache import data_cache_dir
from domaintune.data.source_files import sniff, wrong_format
from domaintune.data.stream import BATCH_ROWS, Problem, Reader, Row
from domaintune.errors import DataError


def _class_label_names(features: Any) -> dict[str, list[str]]:
    import datasets

    return {
        name: list(feature.names)
        for name, feature in features.items()
        if isinstance(feature, datasets.ClassLabel)
    }


def parquet_reader(path: Path) -> Reader:
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        looks_like = sniff(path)
        if looks_like == "a Parquet file":
            raise DataError(f"{path} is a damaged Parquet file ({exc}); write it again.") from None
        if looks_like == "empty":
            raise DataError(f"{path} is empty; write the rows to it again.") from None
        raise wrong_format(path, "Parquet", looks_like) from None
    try:
        labels = _class_label_names(datasets.Features.from_arrow_schema(parquet.schema_arrow))
    except Exception:  # metadata from another writer; integer labels will be reported
        labels = {}

    def rows() -> Iterator[Row | Problem]:
        number = 0
        try:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
                for value in batch.to_pylist():
                    number += 1
                    yield Row(f"{path} row {number}", value)
        except (pa.ArrowException, OSError) as exc:
            yield Problem(f"{path} row {number + 1}", f"cannot be read ({exc}); the file is damaged: write it again")

    return Reader(str(path), "parquet", rows(), columns=parquet.schema_arrow.names, label_names=labels)


def dataset_reader(dataset: Any, source: str, format: str, identity: str) -> Reader:
    """Rows of an Arrow-backed ``datasets.Dataset``, batch by batch."""

    def rows() -> Iterator[Row]:
        number = 0
        for batch in dataset.iter(batch_size=BATCH_ROWS):
            columns = list(batch)
            for values in zip(*batch.values()):
                number += 1
                yield Row(f"{source} row {number}", dict(zip(columns, values)))

    return Reader(
        source, format, rows(), columns=list(dataset.column_names),
        label_names=_class_label_names(dataset.features), identity=identity,
    )


def _pick_split(splits: dict[str, Any], split: str | None, source: str) -> tuple[Any, str]:
    if split is not None:
        if split not in splits:
            raise DataError(
                f"{source} has no split {split!r} (splits: {', '.join(splits)}); write "
                f"{source}:SPLIT with one of them."
            )
        return splits[split], split
    if "train" in splits:
        return splits["train"], "train"
    if len(splits) == 1:
        name = next(iter(splits))
        return splits[name], name
    raise DataError(
        f"{source} has splits {', '.join(splits)} and none is called 'train'; choose one with "
        f"{source}:SPLIT."
    )


def saved_reader(path: Path, split: str | None) -> Reader:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises several types for a damaged folder
        raise DataError(
            f"{path} looks like a folder saved with datasets but cannot be loaded "
            f"({type(exc).__name__}: {exc}); save it again with save_to_disk."
        ) from None
    if isinstance(loaded, datasets.DatasetDict):
        loaded, split = _pick_split(dict(loaded), split, str(path))
        source = f"{path}:{split}"
    elif split is not None:
        raise DataError(f"{path} holds one dataset, not splits; leave out ':{split}'.")
    else:
        source = str(path)
    return dataset_reader(loaded, source, "saved", identity=f"saved:{loaded._fingerprint}")


def hub_reader(name: str, split: str | None) -> Reader:
    """``datasets.load_dataset`` on a hub name, or on a local folder of data files (the same
    code path, which is how it is tested offline)."""
    import datasets

    # A local folder holds the user's raw rows: load_dataset's Arrow copy of them goes to the
    # private data cache (domaintune.data.cache), not to the datasets cache that outlives us.
    options = {"cache_dir": str(data_cache_dir() / "load_dataset")} if Path(name).is_dir() else {}
    try:
        loaded = (
            datasets.load_dataset(name, **options) if split is None
            else {split: datasets.load_dataset(name, split=split, **options)}
        )
    except Exception as exc:  # network, missing repo, bad split, unreadable files: all say why
        reason = f"{type(exc).__name__}: {exc}".strip()
        cause = exc.__cause__ or exc.__context__
        if cause is not None:
            reason += f" ({type(cause).__name__}: {cause})"
        if Path(name).is_dir():
            raise DataError(
                f"{name} is a folder but not one saved with datasets (save_to_disk), and "
                f"datasets.load_dataset could not read its data files: {reason[:800]}. Give the "
                "files inside it one by one (`tune data check FILE` names bad lines), or give "
                "every split the same columns."
            ) from None
        raise DataError(
            f"{name} is not a file or folder here, and datasets.load_dataset({name!r}) failed "
            f"({reason[:800]}). Check the path; for a hub dataset check the name and the "
            "network (with HF_HUB_OFFLINE=1 only datasets already cached load)."
        ) from None
    if isinstance(loaded, datasets.IterableDatasetDict):
        raise DataError(f"{name} loaded as a streaming dataset; domaintune needs a map-style one.")
    dataset, split = _pick_split(dict(loaded), split, name)
    source = f"{name}:{split}"
    return dataset_reader(dataset, source, "hub", identity=f"hub:{dataset._fingerprint}")
