"""Building blocks for a pack that reads a release format of its own: the objects of a JSON
Lines file, the rows of an .xlsx sheet, and the rows it built as a dataset of string columns."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from domaintune.data.stream import Problem
from domaintune.data.text_formats import jsonl_rows
from domaintune.errors import DataError

if TYPE_CHECKING:
    import datasets


def string_dataset(
    rows: list[dict[str, str]], source: Path, columns: tuple[str, ...] = ("prompt", "completion", "task")
) -> datasets.Dataset:
    """The rows a loader built, as a dataset of string columns; an error if there are none."""
    import datasets

    if not rows:
        raise DataError(f"{source} has no rows.")
    return datasets.Dataset.from_dict(
        {name: [row[name] for row in rows] for name in columns},
        features=datasets.Features({name: datasets.Value("string") for name in columns}),
    )


def jsonl_objects(path: Path) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """The objects of a JSON Lines file, each with its ``path:line``, and one message per bad
    line (not UTF-8, invalid JSON, not an object): for a plugin reading a release format."""
    records: list[tuple[str, dict[str, Any]]] = []
    problems: list[str] = []
    for item in jsonl_rows(path):
        if isinstance(item, Problem):
            problems.append(f"{item}.")
        elif not isinstance(item.value, dict):
            problems.append(f"{item.where}: is a JSON {type(item.value).__name__}, expected an object.")
        else:
            records.append((item.where, item.value))
    return records, problems


def xlsx_records(path: Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """The first sheet of an ``.xlsx`` workbook: its header, and each non-blank row as
    (spreadsheet row number, header -> cell). For packs whose datasets ship as workbooks."""
    try:
        import openpyxl
    except ImportError as exc:  # declared by the packs that need it; a trimmed install may lack it
        raise DataError(f"Reading {path} needs openpyxl: `pip install openpyxl`.") from exc
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for damaged files
        raise DataError(f"{path} could not be opened as an .xlsx workbook: {exc}") from exc
    try:
        values = list(workbook.worksheets[0].iter_rows(values_only=True))
    finally:
        workbook.close()
    if not values:
        raise DataError(f"{path} has no rows.")
    header = [str(cell) if cell is not None else "" for cell in values[0]]
    records = [
        (number, dict(zip(header, row)))
        for number, row in enumerate(values[1:], start=2)
        if any(cell is not None and str(cell).strip() for cell in row)
    ]
    return header, records
