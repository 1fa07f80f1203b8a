"""Problem reporting: every problem of a source in one message, so a user fixes them all in one pass."""

from __future__ import annotations

from domaintune.errors import DataError


MAX_REPORTED_PROBLEMS = 20
"""Problems listed in one error message; the count says how many there were in all."""


def problems_message(source: str, problems: list[str], count: int | None = None) -> str:
    """"N problem(s) in SOURCE:" and the first problems, one a line (``count`` when more were
    found than kept)."""
    count = len(problems) if count is None else count
    shown = problems[:MAX_REPORTED_PROBLEMS]
    more = count - len(shown)
    return (
        f"{count} problem(s) in {source}:\n  " + "\n  ".join(shown)
        + (f"\n  ... and {more} more." if more else "")
    )


def raise_problems(source: str, problems: list[str]) -> None:
    """Every problem of a file in one DataError, so that a user fixes them all in one pass."""
    if problems:
        raise DataError(problems_message(source, problems))
