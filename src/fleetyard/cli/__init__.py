"""The `fleetyard` command line: thin Typer commands over the engines."""
