"""Identifiers split across a line break: the joined view finds them, and maps back exactly."""

from __future__ import annotations

import regex
from domaintune.safety.linebreaks import joined_view
from domaintune.safety.recognizers import labelled
from domaintune.safety.spans import Span


def test_breaks_that_may_split_an_identifier_are_joined_and_map_back() -> None:
    text = "SSN 412-67-\n3390, mail a.b@\nexample.net or c.d\n@example.org, card 4111 1111\n1111 1111."
    view = joined_view(text)
    assert view is not None
    assert view.text == "SSN 412-67-3390, mail a.b@example.net or c.d@example.org, card 4111 11111111 1111."
    start = view.text.index("412")
    assert text[slice(*_span(view.to_original(Span(start, start + 11, "SSN"))))] == "412-67-\n3390"
    card = view.text.index("4111")
    assert text[slice(*_span(view.to_original(Span(card, card + 18, "CARD"))))] == "4111 1111\n1111 1111"


def test_ordinary_line_breaks_are_left_alone() -> None:
    assert joined_view("End of a sentence.\nNext line\n- a list item\n2019 | 2018") is None


def test_a_label_ending_in_a_sign_may_touch_its_value() -> None:
    # "ID#PX-778812": the label's last character is no letter, so a letter may follow it.
    pattern = regex.compile(labelled([r"ID\s?#"], r"[A-Z]{2}-\d{6}"))
    assert pattern.search("Pt ID#PX-778812 at triage").group("id") == "PX-778812"
    assert regex.compile(labelled([r"MRN"], r"\d{6}")).search("MRNX 123456") is None


def _span(span: Span) -> tuple[int, int]:
    return span.start, span.end
