"""Placeholder: commands of this group land with their issue."""

COMMANDS: list = []
