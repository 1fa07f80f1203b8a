"""`tune compare`: folders scored on the same rows side by side, with paired intervals and
the rows where they disagree; folders scored on different rows are refused, naming the files."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from domaintune import Domain
from domaintune.cli import cli

REFERENCES = ["yes", "no", "yes", "no", "yes", "no"]


def eval_folder(folder: Path, answers: dict[str, list[str]], texts: list[str] | None = None) -> Path:
    """A folder as tune eval writes it: predictions.jsonl and metrics.json."""
    folder.mkdir(parents=True)
    texts = texts or [f"sentence {i}" for i in range(len(REFERENCES))]
    rows = [
        {"user_text": text, "prompt": text, "reference": ref, **{k: v[i] for k, v in answers.items()}}
        for i, (text, ref) in enumerate(zip(texts, REFERENCES))
    ]
    (folder / "predictions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (folder / "metrics.json").write_text(json.dumps({"domain": "testdomain", "model": folder.name}))
    return folder


def test_compare_gives_every_pairs_interval_and_the_disagreeing_rows(tmp_path: Path, test_domain: Domain) -> None:
    run = eval_folder(tmp_path / "run", {"base": ["no"] * 6, "tuned": ["yes", "no", "yes", "no", "yes", "yes"]})
    # Rows in another order: compare matches them by text and reference.
    fewshot_rows = ["yes", "no", "no", "no", "yes", "no"]
    order = [5, 4, 3, 2, 1, 0]
    shuffled = tmp_path / "fewshot"
    eval_folder(shuffled, {"model": [fewshot_rows[i] for i in order]}, [f"sentence {i}" for i in order])
    rows = [json.loads(line) for line in (shuffled / "predictions.jsonl").read_text().splitlines()]
    for row, i in zip(rows, order):
        row["reference"] = REFERENCES[i]
    (shuffled / "predictions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))

    page = tmp_path / "cmp.html"
    result = CliRunner().invoke(cli, ["compare", str(run), str(shuffled), "--output", str(page)])
    assert result.exit_code == 0, result.output
    compared = json.loads(page.with_suffix(".json").read_text())
    accuracy = {name: values["accuracy"] for name, values in compared["metrics"].items()}
    assert accuracy == {"run base": 3 / 6, "run tuned": 5 / 6, "fewshot (fewshot)": 5 / 6}
    pairs = {(p["first"], p["second"]): p for p in compared["pairs"] if p["metric"] == "accuracy"}
    assert len(pairs) == 3
    tuned_vs_base = pairs[("run base", "run tuned")]
    assert abs(tuned_vs_base["difference"] - 2 / 6) < 1e-9
    assert tuned_vs_base["low"] <= tuned_vs_base["difference"] <= tuned_vs_base["high"]
    # Rows 1 and 5: base alone differs; rows 3 and 6: tuned alone; rows 2 and 4 agree.
    assert sorted(d["user_text"] for d in compared["disagreements"]) == [
        "sentence 0", "sentence 2", "sentence 4", "sentence 5",
    ]
    html = page.read_text()
    assert "<script" not in html and "run tuned" in html


def test_compare_refuses_folders_scored_on_different_rows_naming_the_files(
    tmp_path: Path, test_domain: Domain
) -> None:
    first = eval_folder(tmp_path / "a", {"model": REFERENCES})
    texts = [f"sentence {i}" for i in range(5)] + ["another <b>row</b>"]
    second = eval_folder(tmp_path / "b", {"model": REFERENCES}, texts)
    result = CliRunner().invoke(cli, ["compare", str(first), str(second), "--output", str(tmp_path / "c.html")])
    assert result.exit_code == 1
    output = "".join(result.output.split())
    assert str(first / "predictions.jsonl").replace(" ", "") in output
    assert str(second / "predictions.jsonl").replace(" ", "") in output
    assert "notscoredonthesamerows" in output
    assert not (tmp_path / "c.html").exists()
