"""domaintune: fine-tune an open language model on a regulated domain, and prove it helped.

This module stays light (no torch, no transformers) so that `tune --help` and `tune plugins`
start fast; plugins import `hookimpl`, `for_domains` and the value types from here, and the
rest of what they may use from `domaintune.kit`.
"""

from domaintune.domain import Domain, FilterOutcome, Message, Metric, SafetyFilter
from domaintune.hookspecs import hookimpl
from domaintune.scope import for_domains

__version__ = "0.1.0"
__all__ = [
    "Domain",
    "FilterOutcome",
    "Message",
    "Metric",
    "SafetyFilter",
    "__version__",
    "for_domains",
    "hookimpl",
]
