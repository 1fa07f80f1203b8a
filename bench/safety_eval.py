"""Print the safety filters' figures for the three domain packs.

    .venv/bin/python bench/safety_eval.py                 # all three domains
    .venv/bin/python bench/safety_eval.py --domain legal  # one
    .venv/bin/python bench/safety_eval.py --json out.json # also write the figures as JSON
    .venv/bin/python bench/safety_eval.py --quick         # test sets only (no sample data)

For each domain:
  1. recall and precision per identifier type on the labelled synthetic test set (and the
     false-positive rate on public identifiers), via the pack's ``evaluate_filter()``, and on
     the smaller hand-written held-out set;
  2. the output filters' figures (dose / advice flags, citation check);
  3. the training-data filters as a run applies them (from the plugin's hook), over the
     bundled sample data: texts per second, what they masked, and the canary check (unique
     fake identifiers planted in the rows must all be gone afterwards);
  4. idempotence: filtering the filtered test set again changes nothing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path
from typing import Any

from domaintune.plugins import collect, get_domain
from domaintune.safety.canaries import canary_check
from domaintune.safety.figures import read_testset, strip_examples

ROOT = Path(__file__).resolve().parent.parent
DOMAINS = ("healthcare", "finance", "legal")


def sample_texts(domain: str) -> list[str]:
    texts = []
    for path in sorted((ROOT / "plugins" / domain / f"domaintune_{domain}" / "data").glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                texts += [row["prompt"], row["completion"]]
    return texts


def run_filters(filters: list[Any], texts: list[str], batch: int = 256) -> tuple[list[str], dict[str, int], int]:
    """Apply the filters in turn, in batches as the core does; drop blocked texts."""
    counts: dict[str, int] = {}
    out: list[str] = []
    dropped = 0
    for start in range(0, len(texts), batch):
        current = texts[start:start + batch]
        blocked = [False] * len(current)
        for safety_filter in filters:
            outcome = safety_filter.apply(current)
            current = outcome.texts
            blocked = [a or b for a, b in zip(blocked, outcome.blocked)]
            for kind, n in outcome.counts.items():
                key = f"{safety_filter.name}:{kind}"
                counts[key] = counts.get(key, 0) + n
        out += [t for t, b in zip(current, blocked) if not b]
        dropped += sum(blocked)
    return out, dict(sorted(counts.items())), dropped


def evaluate_domain(name: str, quick: bool) -> dict[str, Any]:
    module = importlib.import_module(f"domaintune_{name}.safety")
    domain = get_domain(name)
    started = time.perf_counter()
    filters = collect("make_data_filters", domain=domain)
    build_seconds = time.perf_counter() - started
    report: dict[str, Any] = {"filters": [f.name for f in filters], "build_seconds": round(build_seconds, 2)}

    started = time.perf_counter()
    report["testset"] = module.evaluate_filter()
    report["testset_seconds"] = round(time.perf_counter() - started, 2)

    testset_texts = [row["text"] for row in read_testset(module.TESTSET)]
    once, _, _ = run_filters(filters, testset_texts)
    twice, _, _ = run_filters(filters, once)
    report["idempotent"] = {"texts": len(once), "changed_by_second_pass": sum(a != b for a, b in zip(once, twice))}

    if not quick:
        texts = sample_texts(name)
        started = time.perf_counter()
        _, counts, dropped = run_filters(filters, texts)
        seconds = time.perf_counter() - started
        report["sample"] = {
            "texts": len(texts), "seconds": round(seconds, 2), "texts_per_second": round(len(texts) / seconds, 1),
            "dropped": dropped, "counts": counts,
        }
        report["canaries"] = canary_check(filters, texts[:2000:2], kinds=domain.canary_kinds, count=50, seed=1)
    return report


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def print_domain(name: str, report: dict[str, Any]) -> None:
    test = report["testset"]
    print(f"\n=== {name}: filters {report['filters']} (built in {report['build_seconds']} s)")
    print(f"test set: {test['snippets']} snippets, {test['identifiers']} identifiers; "
          f"recall {fmt(test['recall'])}, precision {fmt(test['precision'])} ({report['testset_seconds']} s)")
    print(f"  {'type':<15}{'support':>8}{'recall':>8}{'typed':>8}{'found':>8}{'precision':>10}")
    for kind, row in test["types"].items():
        print(f"  {kind:<15}{row['support']:>8}{fmt(row['recall']):>8}{fmt(row['typed_recall']):>8}"
              f"{row['predicted']:>8}{fmt(row['precision']):>10}")
    held = test.get("heldout")
    if held:
        per_type = ", ".join(f"{k} {fmt(v['recall'])}" for k, v in held["types"].items() if v["support"])
        print(f"  held-out (hand-written, other styles): {held['snippets']} snippets, {held['identifiers']} identifiers; "
              f"recall {fmt(held['recall'])}, precision {fmt(held['precision'])}"
              + (f", public FP rate {fmt(held['public_fp_rate'])}" if held["public_identifiers"] else ""))
        print(f"   recall by type: {per_type}")
    for key in ("structured_recall", "checksummed_recall"):
        if key in test:
            print(f"  {key}: {fmt(test[key])}")
    if test["public"]:
        print(f"  public identifiers kept: {test['public_identifiers']}, false-positive rate {fmt(test['public_fp_rate'])}")
        print("   " + ", ".join(f"{k} {v['masked']}/{v['support']}" for k, v in test["public"].items()))
    for key in ("dose_flags", "advice_flags"):
        if key in test:
            flags = test[key]
            print(f"  output {key}: {flags['snippets']} answers, {flags['positives']} positive; "
                  f"recall {fmt(flags['recall'])}, precision {fmt(flags['precision'])}")
    if "citations" in test:
        c = test["citations"]
        print(f"  citation check: {c['snippets']} answers, {c['citations']} citations ({c['fabricated']} altered or "
              f"invented, {c['extracted']} extracted by eyecite); recall {fmt(c['recall'])}, precision {fmt(c['precision'])}")
        print("   flag rate by label: " + ", ".join(f"{k} {fmt(v)}" for k, v in c["flag_rate_by_label"].items()))
    idem = report["idempotent"]
    print(f"  idempotent: {idem['changed_by_second_pass']} of {idem['texts']} filtered texts changed by a second pass")
    if "sample" in report:
        s = report["sample"]
        print(f"bundled sample: {s['texts']} texts (prompts and completions) in {s['seconds']} s = "
              f"{s['texts_per_second']} texts/s; dropped {s['dropped']}; {s['counts']}")
        c = report["canaries"]
        print(f"canaries: {c['planted']} planted ({', '.join(c['kinds'])}), {c['leaked']} survived the filters"
              + (f": {c['leaked_values']}" if c["leaked"] else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", choices=DOMAINS, action="append")
    parser.add_argument("--json", type=Path, help="also write the figures (without examples) here")
    parser.add_argument("--quick", action="store_true", help="test sets only; skip the sample data")
    parser.add_argument("--examples", action="store_true", help="print the misses and false positives too")
    args = parser.parse_args()
    results = {}
    for name in args.domain or DOMAINS:
        report = evaluate_domain(name, args.quick)
        print_domain(name, report)
        if args.examples:
            test = report["testset"]
            for miss in test["misses"] + test.get("heldout", {}).get("misses", []):
                print(f"  MISS {miss['type']}: {miss['value']!r} in {miss['text'][:120]!r}")
            for fp in test["false_positives"] + test.get("heldout", {}).get("false_positives", []):
                print(f"  FALSE POSITIVE {fp['type']}: {fp['value']!r} in {fp['text'][:120]!r}")
            for key in ("dose_flags", "advice_flags"):
                for error in test.get(key, {}).get("errors", []):
                    print(f"  FLAG ERROR (expected {error['expected']}): {error['text']!r}")
            for error in test.get("citations", {}).get("errors", []):
                print(f"  CITATION ERROR: {error}")
        results[name] = strip_examples(report)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
