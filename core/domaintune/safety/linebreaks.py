"""Identifiers split across a line break: a view of a text with such breaks joined, and the
way back from the view's offsets to the text's.

A narrow form, a fax or a mail client breaks a value where it can: after a hyphen
(``123-45-`` / ``6789``), at an ``@`` (``jane.doe@`` / ``example.com``), or between digit
groups (``4111 1111`` / ``1111 1111``). No pattern that finds the value on one line finds it
on two, so :class:`~.engine.PiiMasker` also analyses the joined view of a text that has such
a break, and maps what it finds there back onto the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from domaintune.safety.spans import Span

SPLIT_BREAK = re.compile(
    r"(?<=[A-Za-z0-9]-)[ \t]*\r?\n[ \t]*(?=[A-Za-z0-9])"  # after a hyphen inside a value
    r"|(?<=[\w.+-]@)[ \t]*\r?\n[ \t]*(?=\w)"  # after the @ of an address
    r"|(?<=[\w.+-])[ \t]*\r?\n[ \t]*(?=@\w)"  # before it
    r"|(?<=\d)[ \t]*\r?\n[ \t]*(?=\d)"  # between digit groups
)
"""A line break that may split one identifier in two; it is dropped in the joined view."""


@dataclass(frozen=True)
class JoinedView:
    """``text`` with the breaks that may split an identifier removed; ``origin[i]`` is the
    offset in the original text of the view's character ``i``."""

    text: str
    origin: tuple[int, ...]

    def to_original(self, span: Span) -> Span:
        """``span`` (in view offsets) in the original text's offsets."""
        return Span(self.origin[span.start], self.origin[span.end - 1] + 1, span.kind, span.score)


def joined_view(text: str) -> JoinedView | None:
    """The joined view of ``text``, or None when no line break in it may split an identifier."""
    breaks = [m.span() for m in SPLIT_BREAK.finditer(text)]
    if not breaks:
        return None
    parts: list[str] = []
    origin: list[int] = []
    last = 0
    for start, end in breaks:
        parts.append(text[last:start])
        origin.extend(range(last, start))
        last = end
    parts.append(text[last:])
    origin.extend(range(last, len(text)))
    return JoinedView("".join(parts), tuple(origin))
