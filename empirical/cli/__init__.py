"""The subcommands of ``python -m empirical``, one module each (``empirical/__main__.py`` dispatches)."""
