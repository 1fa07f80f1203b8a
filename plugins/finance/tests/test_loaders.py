"""The finance readers on small inputs in the original release formats."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from domaintune.config import build_config
from domaintune.errors import ConfigError, DataError
from domaintune.plugins import get_domain
from domaintune.run import load_source, prepare_data
from domaintune_finance import loaders, plugin

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(os.environ.get("DOMAINTUNE_SHARED_DATA", Path(__file__).parents[4] / "shared" / "data"))
PHRASEBANK = FIXTURES / "Sentences_50Agree.txt"
FOMC_CSV = FIXTURES / "lab-manual-combine-test-5768.csv"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


# Financial PhraseBank ------------------------------------------------------------------------


def test_phrasebank_release_file_is_read_as_latin1_with_crlf() -> None:
    dataset = load_source(get_domain("finance-sentiment"), PHRASEBANK)
    assert dataset.column_names == ["prompt", "completion", "task"]
    assert dataset["completion"] == ["positive", "negative", "neutral", "negative", "neutral"]
    assert dataset[0]["prompt"] == (
        "Classify the sentiment of this financial news sentence from an investor's point of view. "
        "Answer with one word: positive, negative, or neutral.\n\nSentence: Operating profit rose to "
        "EUR 13.1 mn from EUR 8.7 mn in the corresponding period in 2007 .\nSentiment:"
    )
    assert "in Lännen ," in dataset[1]["prompt"]  # byte E4 in ISO-8859-1
    assert "Sentence: Orders can be sent to sales@example.fi or by fax .\n" in dataset[2]["prompt"]
    assert not any("\r" in prompt for prompt in dataset["prompt"])


def test_phrasebank_copy_resaved_as_utf8_reads_the_same(tmp_path: Path) -> None:
    copy = tmp_path / "Sentences_AllAgree.txt"
    copy.write_bytes(PHRASEBANK.read_bytes().decode("latin-1").replace("\r\n", "\n").encode("utf-8"))
    assert loaders.read_phrasebank(copy)["prompt"] == loaders.read_phrasebank(PHRASEBANK)["prompt"]


def test_phrasebank_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "Sentences_75Agree.txt"
    path.write_bytes(b"Sales rose .@positive\r\nNo label here\r\nProfit fell .@bad\r\n@neutral\r\n")
    with pytest.raises(DataError) as info:
        loaders.read_phrasebank(path)
    message = str(info.value)
    assert "3 problem(s)" in message
    assert f"{path}:2: has no '@'" in message
    assert f"{path}:3: field 'label' is 'bad'" in message
    assert f"{path}:4: field 'sentence' is empty" in message


def test_phrasebank_folder_asks_for_one_file(tmp_path: Path) -> None:
    (tmp_path / "Sentences_66Agree.txt").write_bytes(PHRASEBANK.read_bytes())
    with pytest.raises(DataError, match="Sentences_66Agree.txt"):
        load_source(get_domain("finance-sentiment"), tmp_path)


def test_sentiment_domain_ships_no_data_and_asks_for_it() -> None:
    domain = get_domain("finance-sentiment")
    assert domain.train_data is None and domain.eval_data is None
    assert domain.labels == ("positive", "negative", "neutral")
    with pytest.raises(ConfigError, match="pass --data"):
        prepare_data(domain, build_config({"domain": domain.name}))


def test_sentiment_domain_prepares_a_run_from_the_release_file() -> None:
    domain = get_domain("finance-sentiment")
    train, held_out, info = prepare_data(domain, build_config({"domain": domain.name, "data": str(PHRASEBANK), "eval_rows": 2}))
    assert (len(train), len(held_out)) == (3, 2)
    assert info["attribution"] == ""


# FOMC ----------------------------------------------------------------------------------------


def fomc_records() -> list[list[str]]:
    with FOMC_CSV.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_fomc_csv_maps_label_codes_to_stances() -> None:
    dataset = load_source(get_domain("finance-fomc"), FOMC_CSV)
    assert dataset["completion"] == ["dovish", "hawkish", "neutral", "dovish"]
    assert dataset[3]["prompt"] == (
        "Classify the monetary policy stance of this sentence from a U.S. Federal Reserve (FOMC) "
        "document. Answer with one word: hawkish, dovish, or neutral.\n\nSentence: Several "
        'participants noted that, "on balance," risks to growth had shifted to the downside.\nStance:'
    )


def test_fomc_xlsx_and_jsonl_give_the_same_rows(tmp_path: Path) -> None:
    import openpyxl

    header, *body = fomc_records()
    xlsx = tmp_path / "lab-manual-combine-test-5768.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(header)
    for row in body:  # the workbook holds numbers, not text
        workbook.active.append([int(row[0]), row[1], int(row[2]), int(row[3])])
    workbook.save(xlsx)
    jsonl = tmp_path / "fomc.jsonl"
    jsonl.write_text("".join(json.dumps({"sentence": r[1], "label": int(r[3])}) + "\n" for r in body), encoding="utf-8")

    domain = get_domain("finance-fomc")
    want = load_source(domain, FOMC_CSV).to_list()
    assert load_source(domain, xlsx).to_list() == want
    assert load_source(domain, jsonl).to_list() == want


def test_fomc_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "fomc.csv"
    path.write_text('index,sentence,year,label\n0,"Rates\nrose.",2001,1\n1,Rates fell.,2002,7\n2,,2003,0\n', encoding="utf-8")
    with pytest.raises(DataError) as info:
        loaders.read_fomc(path)
    message = str(info.value)
    assert f"{path}:4: field 'label' is '7'; expected 0 (dovish), 1 (hawkish) or 2 (neutral)" in message
    assert f"{path}:5: field 'sentence' is missing or empty" in message

    xlsx = tmp_path / "fomc.xlsx"
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.active.append(["index", "sentence", "year"])
    workbook.save(xlsx)
    with pytest.raises(DataError, match=r"header has no column\(s\) \['label'\]"):
        loaders.read_fomc(xlsx)


# TAT-QA --------------------------------------------------------------------------------------


def test_tatqa_jsonl_keeps_answer_type_and_scale() -> None:
    domain = get_domain("finance")
    dataset = load_source(domain, domain.eval_data)
    assert dataset.column_names == ["prompt", "completion", "task", "answer_type", "scale"]
    rows = read_jsonl(domain.eval_data)
    assert dataset["prompt"] == [row["prompt"] for row in rows]
    assert dataset["answer_type"] == [row["meta"]["answer_type"] for row in rows]
    assert dataset["scale"] == [row["meta"]["scale"] for row in rows]
    assert {"span", "arithmetic"} <= set(dataset["answer_type"]) <= {"span", "multi-span", "arithmetic", "count"}


def test_tatqa_bad_row_is_reported_as_the_core_does(tmp_path: Path) -> None:
    path = tmp_path / "tatqa.jsonl"
    good = {"prompt": "Q?", "completion": "1", "meta": {"answer_type": "count", "scale": ""}}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "completion": 3}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"{path}:2: field 'completion'"):
        load_source(get_domain("finance"), path)


# Hook contract -------------------------------------------------------------------------------


def test_load_data_leaves_other_domains_and_formats_alone(tmp_path: Path) -> None:
    def load(domain_name: str, source: Path) -> object:
        return plugin.load_data(domain=get_domain(domain_name), source=str(source), column_map={}, shape="auto")

    prompt_completion = tmp_path / "rows.jsonl"
    prompt_completion.write_text(json.dumps({"prompt": "Q", "completion": "neutral"}) + "\n", encoding="utf-8")
    other_csv = tmp_path / "rows.csv"
    other_csv.write_text("text,label\nRates rose.,hawkish\n", encoding="utf-8")
    saved = tmp_path / "saved"  # e.g. a folder saved with datasets: the core reads those
    saved.mkdir()
    for name in ("legal", "healthcare", "finance", "finance-fomc"):
        assert load(name, PHRASEBANK) is None
    for name in ("legal", "finance", "finance-sentiment"):
        assert load(name, FOMC_CSV) is None
    for name in ("finance", "finance-sentiment", "finance-fomc"):
        assert load(name, prompt_completion) is None
    assert load("finance-fomc", other_csv) is None
    assert load("finance-sentiment", saved) is None
    assert load("legal", get_domain("finance").eval_data) is None


def test_plugin_import_stays_light() -> None:
    probe = (
        "import sys, domaintune_finance.plugin\n"
        "heavy = {'torch', 'transformers', 'datasets', 'openpyxl', 'sklearn', 'stdnum'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# The whole shared sets, where this checkout has them -----------------------------------------


@pytest.mark.skipif(not (SHARED / "finance").is_dir(), reason="shared data not present")
def test_shared_phrasebank_rows_come_back_from_the_release_format(tmp_path: Path) -> None:
    rows = read_jsonl(SHARED / "finance" / "financial_phrasebank.train.jsonl")
    path = tmp_path / "Sentences_50Agree.txt"
    lines = [f"{row['meta']['sentence']}@{row['completion']}" for row in rows]
    path.write_bytes("\r\n".join(lines).encode("latin-1"))
    dataset = loaders.read_phrasebank(path)
    assert list(zip(dataset["prompt"], dataset["completion"])) == [(r["prompt"], r["completion"]) for r in rows]


@pytest.mark.skipif(not (SHARED / "finance").is_dir(), reason="shared data not present")
def test_shared_fomc_rows_come_back_from_the_release_format(tmp_path: Path) -> None:
    rows = read_jsonl(SHARED / "finance" / "fomc_hawkish_dovish.train.jsonl")
    path = tmp_path / "lab-manual-combine-train-5768.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "sentence", "year", "label"])
        for i, row in enumerate(rows):
            sentence = row["prompt"].split("\n\nSentence: ", 1)[1].removesuffix("\nStance:")
            writer.writerow([i, sentence, row["meta"]["year"], row["meta"]["orig_label"]])
    dataset = loaders.read_fomc(path)
    assert list(zip(dataset["prompt"], dataset["completion"])) == [(r["prompt"], r["completion"]) for r in rows]
