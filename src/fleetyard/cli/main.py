"""Entry point of the `fleetyard` console script: import only the command that runs.

A known command loads its own module; anything else (no command, `--help`, shell
completion, a typo that deserves the full list) builds the whole tree.
"""

from __future__ import annotations

import os
import sys

from fleetyard.cli.root import COMMANDS, MODULES, command_of, new_app


def main() -> None:
    """Run `fleetyard` with the arguments of this process."""
    args = sys.argv[1:]
    name = command_of(args)
    if any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ):
        modules = MODULES  # shell completion lists every command
    elif "--version" in args[:1] or "-V" in args[:1]:
        modules = ()
    elif name in COMMANDS:
        modules = (COMMANDS[name],)
    else:
        modules = MODULES
    new_app(modules)()
