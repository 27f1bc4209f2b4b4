"""`python -m fleetyard` runs the CLI."""

from fleetyard.cli.app import main

main()
