"""``python -m ketascreen`` runs the command line."""

from ketascreen.cli import main

main()
