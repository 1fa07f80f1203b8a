"""One settings resolver (#16): the data is read once, each make_* hook is called once per run,
`tune data check` resolves the variant as the run does; and what a run leaves when a metric
fails or the job is killed after its metrics (#15)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from domaintune import Domain, Metric, hookimpl
from domaintune.cli import cli
from domaintune.config import build_config
from domaintune.errors import ConfigError, PluginError
from domaintune.testing import TINY_RUN, plugin_registered

PARENT, VARIANT = "animals", "animals-mood"


def squash(text: str) -> str:
    return "".join(text.split())


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


class VariantPlugin:
    """Offers `animals` (yes/no) with a variant `animals-mood` (happy/sad), and records every
    load_data call."""

    def __init__(self) -> None:
        self.loads: list[str] = []

    @hookimpl
    def register_domains(self, register):  # noqa: ANN001, ANN201
        register(Domain(PARENT, "Animals?", "classification", "Answer yes or no.", labels=("yes", "no"), variants=(VARIANT,)))
        register(Domain(VARIANT, "Mood", "classification", "Answer happy or sad.", labels=("happy", "sad"), defaults={"max_length": 48}))

    @hookimpl(tryfirst=True)
    def load_data(self, domain: Domain, source: str) -> None:
        self.loads.append(source)


@pytest.fixture
def variant_plugin() -> Iterator[VariantPlugin]:
    with plugin_registered(VariantPlugin(), "variant-plugin") as plugin:
        yield plugin


def mood_rows(path: Path) -> Path:
    return write_jsonl(path, [{"prompt": f"The dog {i} wags.", "completion": "happy" if i % 2 else "sad"} for i in range(20)])


def test_a_run_reads_its_data_once_and_writes_nothing_when_the_model_does_not_load(
    tmp_path: Path, variant_plugin: VariantPlugin
) -> None:
    """--data was read once to choose the variant and again by the run; a model that did not
    load left config.yaml behind, so that the corrected command was refused."""
    source = mood_rows(tmp_path / "mood.jsonl")
    empty_model = tmp_path / "empty-model"
    empty_model.mkdir()
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        ["--domain", PARENT, "--data", str(source), "--eval-rows", "4", "--model", str(empty_model),
         "--output-dir", str(run_dir)],
    )
    assert result.exit_code == 1, result.output
    assert squash("fits domain 'animals-mood'") in squash(result.output)
    assert squash("Could not load model") in squash(result.stderr)
    assert variant_plugin.loads == [str(source)]
    assert not run_dir.exists()


def test_data_check_resolves_the_variant_as_the_run_does(
    tmp_path: Path, variant_plugin: VariantPlugin, tiny_model: str
) -> None:
    source = mood_rows(tmp_path / "mood.jsonl")
    result = CliRunner().invoke(cli, ["data", "check", str(source), "--domain", PARENT, "--model", tiny_model, "--json"])
    report = json.loads(result.output)
    assert (report["domain"], report["max_length"]) == (VARIANT, 48)


class CountingPlugin:
    """Counts the test domain's make_* calls; its one metric raises after training."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    @hookimpl(tryfirst=True)
    def make_formatter(self, domain: Domain) -> None:
        self.calls["make_formatter"] += 1

    @hookimpl
    def make_metrics(self, domain: Domain) -> list[Metric]:
        self.calls["make_metrics"] += 1

        def broken(predictions: list[str], references: list[str]) -> float:
            raise ValueError("this metric has a bug")

        return [Metric("broken", broken)]

    @hookimpl
    def make_data_filters(self, domain: Domain) -> None:
        self.calls["make_data_filters"] += 1

    @hookimpl
    def make_output_filters(self, domain: Domain) -> None:
        self.calls["make_output_filters"] += 1


def test_hooks_once_a_failing_metric_still_leaves_metrics_and_a_killed_run_gets_its_reports(
    tmp_path: Path, tiny_model: str, test_domain: Domain, registered_plugin: Any
) -> None:
    from domaintune.run import run_job

    counter = CountingPlugin()
    registered_plugin(counter, name="counting-plugin")
    run_dir = tmp_path / "run"
    config = build_config(dict(test_domain.defaults), TINY_RUN, {"domain": "testdomain", "model": tiny_model, "output_dir": str(run_dir)})

    with pytest.raises(PluginError) as failed:
        run_job(config)
    assert "counting-plugin" in str(failed.value) and "this metric has a bug" in str(failed.value)
    assert counter.calls == {"make_formatter": 1, "make_metrics": 1, "make_data_filters": 1, "make_output_filters": 1}
    summary = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert set(summary["base"]) == set(summary["tuned"]) == {"accuracy", "macro_f1"}
    assert "this metric has a bug" in summary["metric_errors"]["broken"]
    assert summary["warnings"] == []
    assert summary["train"]["steps"] > 0

    # Killed just after metrics.json: no reports, a half-written one. Running it again writes
    # what is missing (nothing is trained or scored again) and removes the stray file.
    written = (run_dir / "metrics.json").read_bytes()
    for name in ("report.md", "report.html", "adapter/README.md"):
        (run_dir / name).unlink()
    (run_dir / ".report.md.k1ll3d.tmp").write_text("# half a rep", encoding="utf-8")
    outcome = run_job(config)
    assert outcome.summary == summary
    assert (run_dir / "report.md").read_text(encoding="utf-8").startswith("# domaintune run: testdomain")
    assert (run_dir / "report.html").is_file() and (run_dir / "adapter" / "README.md").is_file()
    assert not list(run_dir.glob(".*.tmp"))
    assert (run_dir / "metrics.json").read_bytes() == written
    assert counter.calls["make_metrics"] == 1

    with pytest.raises(ConfigError, match="holds a finished run"):
        run_job(config)


def test_cut_answers_are_counted() -> None:
    import datasets
    from domaintune.run import cut_answers_warning

    rows = datasets.Dataset.from_dict({"labels": [[-100] * 12 + [5, 6, 7, 8], [-100, 5, 6, 7] + [9] * 12]})
    assert cut_answers_warning(rows, 16) == (
        "max_length 16: in 1 of 2 training rows the answer fills the whole example (cut, or "
        "leaving no room for the prompt); raise --max-length"
    )
    assert cut_answers_warning(rows, 32) is None


def test_cache_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOMAINTUNE_CACHE", str(tmp_path))
    kept = tmp_path / "data"
    kept.mkdir()
    (kept / "rows.arrow").write_bytes(b"x" * 2048)
    result = CliRunner().invoke(cli, ["cache", "clear"])
    assert result.exit_code == 0, result.output
    assert "Removed 1 file(s)" in result.stderr
    assert not kept.exists()
