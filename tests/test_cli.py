"""The `tune` command line: a fast start, and `tune filter`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import domaintune.files
import pytest
from click.testing import CliRunner
from domaintune import Domain
from domaintune.cli import cli
from domaintune.plugins import LOAD_PLUGINS_ENV

HEAVY = ("torch", "transformers")


def squash(text: str) -> str:
    """Rich wraps long lines, even inside a word; compare printed text without whitespace."""
    return "".join(text.split())


# Runs `python -m domaintune ARGS` and, at exit (also after click's SystemExit), reports every
# top-level package in sys.modules; -X importtime would miss modules loaded by importlib.
PROBE = """
import atexit, json, runpy, sys
atexit.register(lambda: print("\\nIMPORTED=" + json.dumps(sorted({m.split(".")[0] for m in sys.modules})), file=sys.stderr))
sys.argv = ["tune", *sys.argv[1:]]
runpy.run_module("domaintune", run_name="__main__", alter_sys=True)
"""


def run_tune(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the CLI in a fresh interpreter; return the result and the packages it imported."""
    env = {k: v for k, v in os.environ.items() if k != LOAD_PLUGINS_ENV}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=120
    )
    marker = [line for line in result.stderr.splitlines() if line.startswith("IMPORTED=")]
    assert marker, result.stderr[-2000:]
    return result, set(json.loads(marker[-1].removeprefix("IMPORTED=")))


def test_help_starts_without_torch_or_transformers() -> None:
    result, imported = run_tune("--help")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "tune --domain legal" in result.stdout
    assert "--config" in result.stdout and "plugins" in result.stdout
    assert "click" in imported  # the probe does see imports
    assert not imported & set(HEAVY), f"`tune --help` imported {sorted(imported & set(HEAVY))}"


def test_plugins_starts_without_torch_or_transformers() -> None:
    result, imported = run_tune("plugins", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    listed = json.loads(result.stdout)
    assert {"legal", "finance", "healthcare"} <= {p["name"] for p in listed["plugins"]}
    # The plugins' own modules were imported, and still nothing heavy.
    assert {"domaintune_legal", "domaintune_finance", "domaintune_healthcare"} <= imported
    assert not imported & set(HEAVY), f"`tune plugins` imported {sorted(imported & set(HEAVY))}"


def test_bare_tune_prints_help() -> None:
    result = CliRunner().invoke(cli, [])
    assert result.exit_code == 0
    assert "Usage:" in result.output and "tune plugins" in result.output


# tune filter ---------------------------------------------------------------------------------

ROWS = [
    {"prompt": "Does this sentence mention an animal? The cat sat on the mat.", "completion": "yes"},
    {"prompt": "Does this sentence mention an animal? Mail ann@example.com about the dog.", "completion": "yes"},
    {"prompt": "Does this sentence mention an animal? CONFIDENTIAL: the bank merger.", "completion": "no"},
    {"prompt": "Does this sentence mention an animal? The bus was late.", "completion": "no", "task": "animals"},
]


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_filter_writes_filtered_rows_and_prints_counts(tmp_path: Path, test_domain: Domain) -> None:
    source = write_rows(tmp_path / "in.jsonl", ROWS)
    target = tmp_path / "out" / "filtered.jsonl"
    result = CliRunner().invoke(cli, ["filter", "--domain", "testdomain", str(source), str(target)])
    assert result.exit_code == 0, result.output
    written = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert written == [
        ROWS[0],
        {**ROWS[1], "prompt": "Does this sentence mention an animal? Mail [EMAIL] about the dog."},
        ROWS[3],  # the task column is kept where a row has one
    ]
    printed = squash(result.stderr)
    assert squash("4 rows in, 1 changed, 1 dropped, 3 written to") in printed
    assert squash("test-redact:EMAIL: 1") in printed
    assert squash("test-redact:confidential: 1") in printed
    assert leftovers(target.parent) == []


def test_filter_output_is_atomic_when_writing_fails(
    tmp_path: Path, test_domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_rows(tmp_path / "in.jsonl", ROWS)
    target = tmp_path / "filtered.jsonl"
    target.write_text('{"prompt": "from an earlier run", "completion": "yes"}\n', encoding="utf-8")
    before = target.read_bytes()

    class DiskFull:
        """The os module, except that the disk fills up while the file is being flushed."""

        def __getattr__(self, name: str) -> object:
            return getattr(os, name)

        @staticmethod
        def fsync(fd: int) -> None:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(domaintune.files, "os", DiskFull())
    result = CliRunner().invoke(cli, ["filter", "--domain", "testdomain", str(source), str(target)])
    assert result.exit_code != 0
    assert isinstance(result.exception, OSError)
    assert target.read_bytes() == before  # the old file, whole
    assert leftovers(tmp_path) == []  # and no half-written temporary file


def test_filter_bad_data_fails_without_touching_the_target(tmp_path: Path, test_domain: Domain) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(ROWS[0]) + "\n" + '{"prompt": "no completion"}\n', encoding="utf-8")
    target = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, ["filter", "--domain", "testdomain", str(source), str(target)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert squash("field 'completion' is missing") in squash(result.stderr)
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_error_messages_are_printed_verbatim(tmp_path: Path, test_domain: Domain) -> None:
    """File names and messages can hold square brackets; they are text, not rich markup."""
    source = tmp_path / "rows[v2].jsonl"
    source.write_text('{"prompt": "no completion"}\n', encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["filter", "--domain", "testdomain", str(source), str(tmp_path / "out.jsonl")]
    )
    assert result.exit_code == 1
    assert squash("rows[v2].jsonl:1: field 'completion' is missing") in squash(result.stderr)


def test_filter_unknown_domain(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.jsonl", ROWS)
    result = CliRunner().invoke(cli, ["filter", "--domain", "aviation", str(source), str(tmp_path / "o.jsonl")])
    assert result.exit_code == 1
    assert squash("No installed plugin offers domain 'aviation'") in squash(result.stderr)
