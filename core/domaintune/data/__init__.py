"""The data stage: sources read into checked prompt/completion rows, then filtered and split.

Reading: ``readers`` picks a reader (``text_formats``, ``columnar``) for a path
(``source_files``); readers yield ``stream`` rows and problems (``problems``). Checking:
``columns`` (shapes, ``--map``), ``rows`` (one row's fields), ``loading`` (a whole source to
Arrow, in ``cache``). A run: ``prepare`` (labels, overlap, canaries, ``filtering``,
``split``, ``tasks``), then ``encoding`` into token ids. `tune data check`: ``check``,
``check_figures``, ``check_render``. Packs reading formats of their own: ``pack_readers``.
"""
