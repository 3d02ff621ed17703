"""The ``stix`` command: a lazy click group and the one error boundary.

Core commands are named in ``_COMMANDS`` and imported only when invoked, so
``stix status`` never imports the optimizer. Plugin commands are asked for
only when a name is not a core command, or when ``--help`` lists everything.
"""

from __future__ import annotations

import os
import sys
import time
from importlib import import_module
from typing import Any

import click

from stix import __version__
from stix.errors import StixError

# name -> "module:attribute" of a click command; add one line per command.
_COMMANDS: dict[str, str] = {
    "autostop": "stix.cli.autostop:autostop",
    "cancel": "stix.cli.cancel:cancel",
    "catalog": "stix.cli.catalog:catalog",
    "check": "stix.cli.check:check",
    "completion": "stix.cli.completion:completion",
    "cost-report": "stix.cli.cost_report:cost_report",
    "down": "stix.cli.down:down",
    "exec": "stix.cli.exec:exec_",
    "gpus": "stix.cli.gpus:gpus",
    "launch": "stix.cli.launch:launch",
    "local": "stix.cli.local:local",
    "logs": "stix.cli.logs:logs",
    "plugins": "stix.cli.plugins:plugins",
    "queue": "stix.cli.queue:queue",
    "show-gpus": "stix.cli.gpus:show_gpus",
    "ssh": "stix.cli.ssh:ssh",
    "start": "stix.cli.start:start",
    "state": "stix.cli.state:state",
    "status": "stix.cli.status:status",
    "stop": "stix.cli.stop:stop",
    "storage": "stix.cli.storage:storage",
    "validate": "stix.cli.validate:validate",
}

# Commands that exist but are not listed in --help (aliases).
_HIDDEN: set[str] = {"show-gpus"}

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class StixGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands()
        names = set(self.commands) | set(_COMMANDS)
        return sorted(n for n in names if n not in _HIDDEN)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is not None:
            module, _, attr = target.partition(":")
            command = getattr(import_module(module), attr)
            assert isinstance(command, click.Command)
            return command
        if cmd_name not in self.commands:
            self._add_plugin_commands()
        return self.commands.get(cmd_name)

    def _add_plugin_commands(self) -> None:
        if getattr(self, "_plugins_added", False):
            return
        self._plugins_added = True
        from stix.plugins import get_registry

        get_registry().add_commands(self)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            try:
                command = self.get_command(ctx, name)
            except Exception as exc:  # a broken command module must not break --help
                rows.append((name, f"(unavailable: {exc})"))
                continue
            if command is None or command.hidden:
                continue
            rows.append((name, command.get_short_help_str(limit=70)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=StixGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(
    __version__, "--version", "-V", prog_name="stix", message="%(prog)s %(version)s"
)
def cli() -> None:
    """STIX runs AI and batch jobs on any cloud, Kubernetes or your own machines.

    Tasks are SkyPilot-compatible YAML files. Start with:

    \b
        stix launch examples/minimal.yaml
        stix status
        stix plugins
    """


def _crash_log(exc: BaseException) -> str | None:
    import traceback

    from stix.config import stix_home

    try:
        folder = stix_home() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        path.write_text("".join(traceback.format_exception(exc)))
        return str(path)
    except OSError:
        return None


def _origin(exc: BaseException) -> str:
    """Name the distribution whose code raised, from the innermost frame's module path."""
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_globals.get("__name__", "")
        tb = tb.tb_next
    top = (last or "").split(".")[0]
    if top == "stix":
        return "stix"
    if top.startswith("stix_"):
        return "stix-" + top[5:].replace("_", "-")
    return top or "stix"


def _print_help(args: tuple[str, ...]) -> None:
    from stix import helpcache

    with cli.make_context("stix", list(args) or ["--help"], resilient_parsing=True) as ctx:
        text = ctx.get_help()
    click.echo(text)
    helpcache.store(args, text)


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: run the CLI and turn errors into one readable line."""
    args = tuple(sys.argv[1:] if argv is None else argv)
    config = sys.modules.get("stix.config")  # not imported yet: nothing to reset
    if config is not None:
        config.use_cli_overrides(())  # --config of an earlier in-process run must not carry over
    try:
        if args in (("--help",), ("-h",), ()) and "_STIX_COMPLETE" not in os.environ:
            _print_help(args)
            return None
        return cli.main(args=list(args), prog_name="stix", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        # one line naming the argument, as for every other error; the usage is one --help away
        where = exc.ctx.command_path if exc.ctx is not None else "stix"
        click.echo(f"Error: {exc.format_message()}", err=True)
        click.echo(f"Hint: see {where} --help", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except StixError as exc:
        from stix.redact import redact

        click.echo(f"Error: {redact(exc.message)}", err=True)
        if exc.hint:
            click.echo(f"Hint: {redact(exc.hint)}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:
        if os.environ.get("STIX_DEBUG"):
            import traceback

            traceback.print_exception(exc)
        path = _crash_log(exc)
        where = f"; details in {path}" if path else ""
        click.echo(
            f"Error: unexpected {type(exc).__name__} in {_origin(exc)}: {exc}{where}", err=True
        )
        sys.exit(1)


__all__ = ["cli", "main"]
