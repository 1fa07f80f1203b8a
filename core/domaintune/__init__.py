"""domaintune: fine-tune an open language model on a regulated domain, and prove it helped.

This module stays light (no torch, no transformers) so that `tune --help` and `tune plugins`
start fast; plugins import `hookimpl` and the value types from here.
"""

from domaintune.domain import Domain, FilterOutcome, Message, Metric, SafetyFilter
from domaintune.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = [
    "Domain",
    "FilterOutcome",
    "Message",
    "Metric",
    "SafetyFilter",
    "__version__",
    "hookimpl",
]
