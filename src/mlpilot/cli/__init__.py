"""The ``mlpilot`` command line: one thin typer command per verb.

Each command parses its arguments, calls one library function and renders the result with rich.
Known errors print their headline and message (exit 2 for usage and configuration errors,
1 for failures); unknown errors print a traceback.
"""

from mlpilot.cli._app import app, entry, main

__all__ = ["app", "entry", "main"]
