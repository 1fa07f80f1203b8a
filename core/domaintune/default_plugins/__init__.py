"""The core's own behaviour, shipped as plugins and registered explicitly (trylast, so that any
installed plugin can take over)."""
