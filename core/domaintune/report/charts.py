"""The report's charts, drawn with matplotlib and returned as base64 PNGs to embed: held-out
metrics with the change's interval as error bars, per-task figures, and the loss curves."""

from __future__ import annotations

from typing import Any

BASE_COLOUR, TUNED_COLOUR = "#9aa5b1", "#2563eb"
LABEL_CHARACTERS = 28


def _label(text: object) -> str:
    """Text from data as a plain chart label: matplotlib reads ``$...$`` as math, which a
    name could use to break rendering."""
    text = " ".join(str(text).split())
    if len(text) > LABEL_CHARACTERS:
        text = text[: LABEL_CHARACTERS - 1] + "…"
    return text.replace("$", r"\$")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display: render to memory
    import matplotlib.pyplot as plt

    return plt


def _png_base64(figure: Any) -> str:
    import base64
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def metrics_chart(summary: dict[str, Any]) -> str:
    """Top: base and tuned per metric (and the majority-class baseline). Below: tuned - base with
    its 95% paired-bootstrap interval as a bar from low to high; one clear of 0 is a real change.
    One row per metric in both, stacked, so that names stay readable on a phone."""
    plt = _pyplot()
    names = list(summary["base"])
    rows = list(range(len(names)))
    labels = [_label(name) for name in names]
    figure, (values, changes) = plt.subplots(
        2, 1, figsize=(4.8, 1.6 + 1.1 * len(names)), sharey=True,
        gridspec_kw={"height_ratios": [1.4, 1]},
    )
    values.barh([r - 0.2 for r in rows], [summary["base"][n] for n in names], 0.4,
                label="base", color=BASE_COLOUR)
    values.barh([r + 0.2 for r in rows], [summary["tuned"][n] for n in names], 0.4,
                label="tuned", color=TUNED_COLOUR)
    if "majority_baseline" in summary and "accuracy" in names:
        values.axvline(summary["majority_baseline"]["accuracy"], color="grey", linestyle="--",
                       label="majority class")
    top = max([1.0, *summary["base"].values(), *summary["tuned"].values()])
    values.set_xlim(0, top * 1.02)
    values.set_yticks(rows, labels)
    values.set_ylim(len(names) - 0.5, -0.5)
    values.set_title("Held-out metrics", pad=22)
    values.legend(fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    values.grid(axis="x", alpha=0.3)

    interval = [summary["tuned_minus_base"][n] for n in names]
    changes.axvline(0, color="black", linewidth=0.8)
    # The interval as a segment from low to high: a percentile bootstrap's interval need not
    # hold the point estimate, so it is not drawn as errors around it.
    for row, entry in enumerate(interval):
        colour = TUNED_COLOUR if entry["low"] > 0 else "#dc2626" if entry["high"] < 0 else "#6b7280"
        changes.plot([entry["low"], entry["high"]], [row, row], color=colour, marker="|",
                     markersize=12, linewidth=2)
        changes.plot(entry["difference"], row, "o", color=colour)
    changes.set_title("Change (tuned - base) with its 95% interval")
    changes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return _png_base64(figure)


def groups_chart(column: str, groups: dict[str, dict[str, Any]]) -> str:
    """Base and tuned per task (or other group) on the headline metric, one row each, so that
    long task names stay readable; the majority-class accuracy is marked where known."""
    plt = _pyplot()
    metric = next(iter(next(iter(groups.values()))["base"]))
    names = list(groups)
    rows = list(range(len(names)))
    figure, axis = plt.subplots(figsize=(5.5, 1.2 + 0.32 * len(names)))
    axis.barh([r - 0.2 for r in rows], [groups[g]["base"][metric] for g in names], 0.4,
              label="base", color=BASE_COLOUR)
    axis.barh([r + 0.2 for r in rows], [groups[g]["tuned"][metric] for g in names], 0.4,
              label="tuned", color=TUNED_COLOUR)
    majority = [(r, groups[g]["majority_baseline"]["accuracy"]) for r, g in zip(rows, names)
                if "majority_baseline" in groups[g] and metric == "accuracy"]
    if majority:
        axis.scatter([a for _, a in majority], [r for r, _ in majority], marker="|", s=200,
                     color="black", label="majority class", zorder=3)
    axis.set_yticks(rows, [_label(name) for name in names])
    axis.set_ylim(len(names) - 0.5, -0.5)
    axis.set_xlim(0, max([1.0, *(groups[g]["tuned"][metric] for g in names)]) * 1.02)
    axis.set_xlabel(_label(metric))
    axis.set_title(f"By {_label(column)}", pad=24)
    axis.legend(fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    axis.grid(axis="x", alpha=0.3)
    return _png_base64(figure)


def loss_chart(train: dict[str, Any]) -> str:
    """Training loss per logged step, with the held-out loss beside it when the run measured one."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(4.8, 3.0))
    history = train["loss_history"]
    axis.plot([e["step"] for e in history], [e["loss"] for e in history], marker=".",
              color=TUNED_COLOUR, label="training loss (answer tokens)")
    held_out = train.get("eval_loss_history") or []
    if held_out:
        axis.plot([e["step"] for e in held_out], [e["loss"] for e in held_out], marker="o",
                  color="#ea580c", label="held-out loss")
    axis.set_xlabel("step")
    axis.xaxis.get_major_locator().set_params(integer=True)
    axis.set_ylabel("loss")
    axis.set_title("Loss curve")
    axis.legend(fontsize="small")
    axis.grid(alpha=0.3)
    return _png_base64(figure)
