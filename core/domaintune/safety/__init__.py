"""Safety: the building blocks of the packs' filters, their figures, and canaries.

- :mod:`.masking`: filters from regex identifiers, flag functions and phrases;
- :mod:`.spans`: a finding (:class:`~.spans.Span`) and how overlapping findings resolve;
- :mod:`.engine`: the offline Presidio engine and :class:`~.engine.PiiMasker`;
- :mod:`.recognizers`: recognizers and patterns packs compose (labelled ids, e-mail, addresses);
- :mod:`.names`: person-name shapes and tidying of name findings;
- :mod:`.figures`: recall, precision and public identifiers kept, on labelled test sets;
- :mod:`.canaries`: fake identifiers planted in training rows, checked after the filters;
- :mod:`.canary_probe`: whether the tuned model writes a planted canary out;
- :mod:`.measure`: each filter's figures for a run's report.
"""
