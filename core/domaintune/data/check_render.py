"""`tune data check` as text for people (``--json`` prints the report's own dict)."""

from __future__ import annotations

from domaintune.data.check import CheckReport
from domaintune.data.check_figures import pairs_text, rows_text
from domaintune.data.columns import SHAPE_NAMES


def render_text(report: CheckReport) -> str:
    lines = [
        f"domain {report.domain or '(none)'}, {report.task_type}, max_length {report.max_length}, "
        f"tokenizer {report.tokenizer or '(none)'}"
    ]
    for s in report.sources:
        lines.append("")
        lines.append(f"{s.role}: {s.source}")
        if s.shape:
            fields = ", ".join(f"{k}={v}" for k, v in s.fields.items())
            how = "detected" if s.detected else "as set"
            lines.append(f"  rows        {s.rows:,} ({s.format}; {SHAPE_NAMES.get(s.shape, s.shape)}, {how}: {fields})")
        if s.problem_count:
            lines.append(f"  PROBLEMS    {s.problem_count:,}")
            lines.extend(f"    {p}" for p in s.problems[:20])
            if s.problem_count > 20:
                lines.append(f"    ... and {s.problem_count - 20:,} more (--json lists up to 1,000)")
        if s.labels is not None:
            total = sum(s.labels.values()) or 1
            shown = ", ".join(f"{label} {n:,} ({n / total:.1%})" for label, n in list(s.labels.items())[:10])
            more = f", and {len(s.labels) - 10} more" if len(s.labels) > 10 else ""
            lines.append(f"  labels      {shown}{more}")
        if s.tokens:
            t = s.tokens
            pct = ", ".join(f"p{p} {v}" for p, v in t["percentiles"].items())
            lines.append(f"  tokens      {pct}, max {t['max']:,} (prompt and answer, chat template applied)")
            lines.append(
                f"  truncated   {rows_text(t['truncated'])} ({t['truncated'] / max(s.rows, 1):.1%}) over "
                f"{report.max_length} tokens; {t['answer_cut']:,} with the answer itself cut"
            )
        if s.duplicates:
            d = s.duplicates
            lines.append(
                f"  duplicates  {d['exact']:,} exact, {d['normalized']:,} more after normalizing; "
                f"{d['conflicting_prompts']:,} prompts with conflicting completions"
                + (f" (e.g. {pairs_text(d['examples'], 'row', 'row')})" if d["examples"] else "")
            )
        if s.safety is not None:
            f = s.safety
            if not f["filters"]:
                lines.append("  safety      no data filters for this domain")
            else:
                counts = ", ".join(f"{kind} {n:,}" for kind, n in f["counts"].items()) or "nothing found"
                dropped = f" (e.g. rows {', '.join(map(str, f['dropped_rows']))})" if f["dropped_rows"] else ""
                lines.append(
                    f"  safety      {rows_text(f['rows_changed'])} changed, {f['rows_dropped']:,} dropped{dropped}; "
                    f"{counts} [{', '.join(f['filters'])}]"
                )
    lines.append("")
    if report.split:
        sp = report.split
        lines.append(
            f"eval: {rows_text(sp['eval_rows'])} held out from train (seed {sp['seed']}"
            f"{', stratified by label' if sp['stratified'] else ''}); {sp['train_rows']:,} train "
            f"rows remain, after leaving out {sp['left_out']:,} whose prompt is held out too"
        )
    elif report.contamination is not None:
        c = report.contamination
        lines.append(f"contamination: {c['rows']:,} of {c['eval_rows']:,} eval rows share a prompt with train")
    for warning in report.warnings:
        lines.append(f"warning: {warning}")
    problems = report.problems + [
        f"{s.role} data: {s.problem_count:,} bad row(s) or file problem(s), listed above"
        for s in report.sources if s.problem_count
    ]
    for problem in problems:
        lines.append(f"PROBLEM: {problem}")
    lines.append(
        "usable: yes" if report.usable else f"usable: no ({len(problems)} problem(s); fix them and check again)"
    )
    return "\n".join(lines)
