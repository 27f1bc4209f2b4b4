"""The whole `fleetyard` Typer application; each command group lives in its own module.

Exit codes (scripts may rely on them):

* 0 - success
* 1 - an unexpected error (a bug, or an I/O failure outside the user's input)
* 2 - invalid input: a spec, a reference or an argument is wrong; nothing was changed
* 3 - the command worked but its result is a failure the caller asked to hear about
      (e.g. `plan --fail-on-unplaced` when some work could not be placed)

The console script is `cli/main.py`, which registers only the module of the command it
runs (`cli/root.py`); this module builds every command, for tests and embedding.
"""

from __future__ import annotations

from fleetyard.cli.main import main
from fleetyard.cli.root import new_app

__all__ = ["app", "main"]

app = new_app()
