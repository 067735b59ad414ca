"""Docs and code keep each other honest: every CLI command has help text and appears in README.md."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from promptvault.cli import main

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def command_paths(group: click.Group, prefix: str = "promptvault") -> list[tuple[str, click.Command]]:
    """Every command under a group as ('promptvault a b', command)."""
    result = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        result.append((path, command))
        if isinstance(command, click.Group):
            result.extend(command_paths(command, path))
    return result


@pytest.mark.parametrize("path, command", command_paths(main), ids=lambda v: v if isinstance(v, str) else "")
def test_cli_command_has_help_and_is_in_readme(path, command):
    assert (command.help or "").strip(), f"{path} has no help text"
    assert path in README, f"README.md does not mention `{path}`"
