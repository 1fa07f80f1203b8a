"""The plugin authors' kit: everything a domain pack may import from the core besides
``domaintune`` itself (the value types, ``hookimpl`` and ``for_domains``) and
``domaintune.testing``. Each name is documented in docs/kit.md.

What is here stays importable from here across releases; the core modules these names live
in may be reorganised at any time, so packs import nothing else from the core, and
`tune plugin check` fails a pack that does.
"""

from __future__ import annotations

from domaintune.data.loading import read_data
from domaintune.data.pack_readers import jsonl_objects, string_dataset, xlsx_records
from domaintune.data.problems import problems_message, raise_problems
from domaintune.data.rows import a_json_type, json_type, text_problem
from domaintune.data.source_files import decode_utf8, read_utf8, require_file
from domaintune.data.tasks import matches_tasks, select_tasks
from domaintune.domain import Batch, Formatter, TaskType
from domaintune.errors import ConfigError, DataError, PluginError
from domaintune.evaluation.metrics import (
    accuracy,
    balanced_accuracy,
    exact_match,
    macro_f1,
    normalize_answer,
    token_f1,
)
from domaintune.safety.engine import PiiMasker
from domaintune.safety.figures import (
    evaluate_flags,
    evaluate_masking,
    flag_figures,
    masker_figures,
    masking_report,
    read_testset,
    recall_over,
    safety_testsets,
)
from domaintune.safety.masking import (
    EMAIL,
    US_PHONE,
    Identifier,
    MaskingApply,
    flagging_filter,
    masker_filter,
    masking_filter,
    phrase_blocking_filter,
)
from domaintune.safety.names import PERSON_WORD, merge_names, name_shape_spans
from domaintune.safety.recognizers import (
    OBFUSCATED_EMAIL,
    STREET_ADDRESS,
    US_STATES,
    email_recognizer,
    labelled,
    pattern_recognizer,
    ssn_shape_valid,
)
from domaintune.safety.spans import Span
from domaintune.scope import for_domains

__all__ = [
    # Row readers: a pack's own file formats, read into prompt/completion datasets.
    "decode_utf8", "jsonl_objects", "read_data", "read_utf8", "require_file", "string_dataset",
    "xlsx_records",
    # Problem reporting: every bad row named at once, as the core does.
    "ConfigError", "DataError", "PluginError", "a_json_type", "json_type", "problems_message", "raise_problems",
    "text_problem",
    # Task matching and domain scoping.
    "for_domains", "matches_tasks", "select_tasks",
    # Prompt formats.
    "Batch", "Formatter", "TaskType",
    # Metric helpers.
    "accuracy", "balanced_accuracy", "exact_match", "macro_f1", "normalize_answer", "token_f1",
    # Safety filter building blocks.
    "EMAIL", "OBFUSCATED_EMAIL", "PERSON_WORD", "STREET_ADDRESS", "US_PHONE", "US_STATES",
    "Identifier", "MaskingApply", "PiiMasker", "Span", "email_recognizer", "evaluate_flags",
    "evaluate_masking", "flag_figures", "flagging_filter", "labelled", "masker_figures",
    "masker_filter", "masking_filter", "masking_report", "merge_names", "name_shape_spans", "pattern_recognizer",
    "phrase_blocking_filter", "read_testset", "recall_over", "safety_testsets", "ssn_shape_valid",
]
