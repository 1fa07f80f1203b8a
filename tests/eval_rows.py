"""Held-out rows of the test domain (tests/conftest.py) that no training row repeats: what
the ``tune eval`` tests score a run's models or an endpoint on."""

from __future__ import annotations

QUESTION = "Does this sentence mention an animal?"  # the test domain's (tests/conftest.py)

HELD_OUT = [
    ("A horse ran along the beach at dawn.", "yes"),
    ("The bus was late again this morning.", "no"),
    ("Our cat sleeps on the warm laptop.", "yes"),
    ("The shop sells paper and pens.", "no"),
    ("A dog barked at the postman.", "yes"),
    ("The tax office opens at eight.", "no"),
]
"""(sentence, label) pairs."""
