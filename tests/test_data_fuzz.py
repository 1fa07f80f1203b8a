"""Random bytes and random JSON into the loaders: a clean load or a DataError, nothing else.

A clean load always has the core's contract: string columns prompt, completion and task, a
non-empty completion, and (for chat rows) messages ending with the assistant's answer.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from domaintune.data.loading import load
from domaintune.errors import DataError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# DOMAINTUNE_FUZZ_EXAMPLES=2000 for a longer hunt.
FUZZ = settings(
    max_examples=int(os.environ.get("DOMAINTUNE_FUZZ_EXAMPLES", "80")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SUFFIXES = [".jsonl", ".json", ".csv", ".tsv", ".parquet"]


@pytest.fixture(autouse=True, scope="module")
def data_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOMAINTUNE_CACHE", str(tmp_path_factory.mktemp("fuzz-cache")))
        yield


def load_or_error(name: str, content: bytes, **kwargs: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        try:
            loaded = load(path, **kwargs)
        except DataError as exc:
            assert str(exc).strip()
            return
        check_contract(loaded.dataset)


def check_contract(dataset: Any) -> None:
    assert dataset.column_names[:3] == ["prompt", "completion", "task"]
    assert len(dataset) > 0
    for row in dataset:
        assert all(isinstance(row[name], str) for name in ("prompt", "completion", "task"))
        assert row["completion"].strip()
        if "messages" in row:
            assert row["messages"][-1] == {"role": "assistant", "content": row["completion"]}


@FUZZ
@given(content=st.binary(max_size=400), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes(content: bytes, suffix: str) -> None:
    load_or_error(f"rows{suffix}", content)


# Bytes that look almost right: JSON-ish text with random damage.
JSONISH = st.lists(
    st.sampled_from(['{', '}', '[', ']', ',', ':', '"prompt"', '"completion"', '"messages"', '"role"',
                     '"content"', '"user"', '"assistant"', '"x"', '1', 'null', '\n', '\r\n', ' ', '\ufeff',
                     '\\u2028', '\u2028', '\\ud800', '"', '\t', 'prompt,completion', '\x00', '\xe9']),
    max_size=60,
).map("".join)


@FUZZ
@given(text=JSONISH, suffix=st.sampled_from(SUFFIXES), encoding=st.sampled_from(["utf-8", "latin-1"]))
def test_damaged_json_text(text: str, suffix: str, encoding: str) -> None:
    load_or_error(f"rows{suffix}", text.encode(encoding, errors="replace"))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
TEXT = st.one_of(st.text(max_size=20), st.sampled_from(["", " ", "Yes", "\u2028", "\ud800", "a\x00b"]))
PC_ROWS = st.fixed_dictionaries(
    {},
    optional={"prompt": TEXT | JSON_VALUES, "completion": TEXT | JSON_VALUES, "task": JSON_VALUES, "meta": JSON_VALUES},
)
MESSAGE = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(["system", "user", "assistant", "developer", "tool", "bot", "", "User"]) | JSON_VALUES,
        "content": TEXT | JSON_VALUES,
        "weight": st.sampled_from([0, 1, 2, True, None, "1"]),
    },
)
CHAT_ROWS = st.fixed_dictionaries({"messages": st.lists(MESSAGE, max_size=5) | JSON_VALUES})


@FUZZ
@given(rows=st.lists(PC_ROWS | JSON_VALUES, min_size=1, max_size=6), array=st.booleans())
def test_random_json_rows(rows: list[Any], array: bool) -> None:
    if array:
        content, name = json.dumps(rows), "rows.json"
    else:
        content, name = "".join(json.dumps(row) + "\n" for row in rows), "rows.jsonl"
    load_or_error(name, content.encode("utf-8", errors="surrogatepass"))


@FUZZ
@given(rows=st.lists(CHAT_ROWS, min_size=1, max_size=5))
def test_random_chat_rows(rows: list[Any]) -> None:
    content = "".join(json.dumps(row) + "\n" for row in rows)
    load_or_error("chat.jsonl", content.encode("utf-8", errors="surrogatepass"))


@FUZZ
@given(
    header=st.lists(st.sampled_from(["prompt", "completion", "text", "question", "answer", "x", ""]), min_size=1, max_size=4),
    cells=st.lists(st.lists(TEXT, max_size=5), max_size=5),
    delimiter=st.sampled_from([",", "\t"]),
)
def test_random_csv(header: list[str], cells: list[list[str]], delimiter: str) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(cells)
    load_or_error("rows.tsv" if delimiter == "\t" else "rows.csv", buffer.getvalue().encode("utf-8", errors="surrogatepass"))


@FUZZ
@given(rows=st.lists(st.fixed_dictionaries({"prompt": TEXT, "completion": TEXT}), min_size=1, max_size=5))
def test_random_parquet(rows: list[dict[str, str]]) -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    safe = [{k: v.encode("utf-8", "replace").decode("utf-8") for k, v in row.items()} for row in rows]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(safe), buffer)
    load_or_error("rows.parquet", buffer.getvalue())
