"""Wording both pages share for figures that are not sentences: sizes and filter figures."""

from __future__ import annotations

from typing import Any

from domaintune.report.verdict import Escape


def human_size(size: int) -> str:
    """``113246208`` -> ``108.0 MiB``."""
    if size < 1024:
        return f"{size} bytes"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def figures_text(figures: dict[str, Any], escape: Escape) -> str:
    """``{"recall": 0.99, "recall_by_type": {"SSN": 1.0}}`` -> ``recall 0.990; recall by type SSN 1.000``."""

    def value(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        if isinstance(v, dict):
            return ", ".join(f"{escape(k)} {value(x)}" for k, x in v.items())
        return "-" if v is None else escape(v)

    return "; ".join(f"{escape(key.replace('_', ' '))} {value(v)}" for key, v in figures.items())


def run_facts(summary: dict[str, Any], escape: Escape) -> list[str]:
    """Domain, model, task, data and run-folder size, one item each, for what the summary has."""
    data = summary.get("data", {})
    facts = [f"Domain: {escape(summary['description'])}"] if summary.get("description") else []
    facts.append(f"Model: {escape(summary['model'])}")
    if "task_type" in summary:
        labels = ", ".join(escape(label) for label in summary.get("labels") or [])
        facts.append(f"Task: {escape(summary['task_type'])}" + (f" over labels {labels}" if labels else ""))
    if "train_rows" in data:
        cap = data.get("max_rows_per_task")
        facts.append(
            f"Train data: {escape(data['train_source'])} ({data['train_rows']} rows"
            + (f", at most {cap} per task)" if cap else ")")
        )
    if "eval_rows" in data:
        facts.append(f"Eval data: {escape(data['eval_source'])} ({data['eval_rows']} rows)")
    if summary.get("run_dir_bytes") is not None:
        facts.append(f"Run folder: {human_size(summary['run_dir_bytes'])}")
    return facts


def training_facts(train: dict[str, Any]) -> str:
    """``124 steps, 2.00 epochs, 300 s, ...``: how long and how fast the training ran."""
    return (
        f"{train['steps']} steps, {train['epochs']:.2f} epochs, {train['seconds']:.0f} s, "
        f"{train['tokens']} real tokens ({train['tokens_per_second']:.0f} tokens/s)"
        + (", stopped by the time budget" if train["stopped_by_time_budget"] else "")
        + (
            f", stopped early (best held-out loss {train['best_eval_loss']:.4f})"
            if train.get("stopped_early") else ""
        )
        + "."
        + _time_split(train.get("time_split") or {})
    )


def _time_split(split: dict[str, float]) -> str:
    """`` 92% of it in optimizer steps; ...``: where training time went besides the steps."""
    if not split.get("steps"):
        return ""
    return (
        f" {split['steps_share']:.0%} of it in optimizer steps; between steps "
        f"{split['between_steps_s']:.0f} s (next batch, logging), checkpoints {split['checkpoint_s']:.0f} s, "
        f"held-out loss {split['heldout_loss_s']:.0f} s."
    )


def safety_items(summary: dict[str, Any], escape: Escape) -> list[str]:
    """The filters' findings per split, the canaries, the filters' own test figures, and what
    the output filters flagged in the tuned model's answers."""
    data = summary.get("data", {})
    items = []
    for split in ("train", "eval"):
        report = data.get(f"{split}_filter")
        if report and report["rows_in"]:
            items.append(
                f"{split}: {report['rows_in']} rows in, {report['rows_changed']} changed, "
                f"{report['rows_dropped']} dropped; findings: "
                + (", ".join(f"{escape(k)} {v}" for k, v in report["counts"].items()) or "none")
            )
    canaries = data.get("canaries")
    if canaries:
        survivors = ", ".join(escape(value) for value in canaries["survivors"])
        items.append(
            f"canaries: {canaries['planted']} fake identifiers planted in training prompts, "
            f"{canaries['survived_filters']} survived the filters" + (f" ({survivors})" if survivors else "")
        )
        probe = canaries.get("tuned_model")
        if probe:
            produced = ", ".join(escape(value) for value in probe["produced_values"])
            items.append(
                f"canaries in the tuned model's output: {probe['produced']} of {probe['probed']} "
                "written out when the model continued the training text that preceded them"
                + (f" ({produced})" if produced else "")
            )
    for name, figures in data.get("filter_figures", {}).items():
        items.append(f"filter '{escape(name)}' on its labelled test set: {figures_text(figures, escape)}")
    flags = summary.get("output_filter", {}).get("tuned")
    if flags:
        items.append("tuned model outputs: " + ", ".join(f"{escape(k)} {v}" for k, v in flags.items()))
    return items
