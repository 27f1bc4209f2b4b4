"""`python -m fleetyard` runs the CLI."""

from fleetyard.cli.main import main

main()
