"""``stix completion``: print the shell completion script."""

from __future__ import annotations

import click


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]), default="bash")
def completion(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
    Example (bash):
        eval "$(stix completion bash)"
    Or add that line to ~/.bashrc.
    """
    from click.shell_completion import get_completion_class

    from stix.cli import cli

    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(cli, {}, "stix", "_STIX_COMPLETE").source())
