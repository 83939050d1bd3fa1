"""What every `vhoneynet` command shares: the app, its arguments and options (declared once with
their defaults), the one decorator that turns an error into its exit code and message, and how
output and progress reach the terminal (always through the sanitiser)."""

from __future__ import annotations

import contextlib
import faulthandler
import functools
import json
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from vhoneynet import __version__, errors, naming
from vhoneynet.cli import complete
from vhoneynet.cli.live import LiveProgress, print_line
from vhoneynet.errors import (
    InvalidName,
    TopologyInvalid,
    TopologySyntaxError,
    VhoneynetError,
)
from vhoneynet.permissions import private_process
from vhoneynet.terminal import text
from vhoneynet.topology.model import DEFAULT_URI

try:  # typer >= 0.16 carries its own click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException


class _Group(TyperGroup):
    """The command group; under `--json`, a usage error (bad option, refused name) is a JSON error
    on stdout too, with click's exit code (2)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if standalone_mode:
            # `kill -USR1 <pid>`: every thread's stack on stderr (a hung `up`, say)
            with contextlib.suppress(ValueError, OSError):  # a stderr with no file behind it (tests)
                faulthandler.register(signal.SIGUSR1, all_threads=True)
            # An interrupt is how a user or a CI job stops an `up` (which then removes what it
            # made). A shell without job control starts background commands with SIGINT ignored,
            # and Python keeps it ignored: such an `up` would go on as if nothing was said.
            if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
                signal.signal(signal.SIGINT, signal.default_int_handler)
        args = sys.argv[1:] if args is None else list(args)
        if "--json" not in args or not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except ClickException as e:
            param = getattr(e, "param", None)
            _print_error(type(e).__name__, e.format_message(), getattr(param, "name", None), None)
            code = e.exit_code
        except typer.Abort:
            code = 130
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(cls=_Group, no_args_is_help=True, add_completion=True,
                  help="Virtual honeynets on libvirt, from one YAML file.")
host_app = typer.Typer(no_args_is_help=True, help="This host: what is missing, which acceleration.")
image_app = typer.Typer(no_args_is_help=True, help="Guest images built from the recipes in images/.")
collector_app = typer.Typer(no_args_is_help=True,
                            help="Central collection of many honeynets' events (PostgreSQL over HTTPS).")
app.add_typer(host_app, name="host")
app.add_typer(image_app, name="image")
app.add_typer(collector_app, name="collector")

out = Console()
err = Console(stderr=True)


def checked(kind: str):
    """A typer callback that refuses a `kind` of name (naming.RULES) before the command runs:
    exit code 2, the message naming the argument, nothing done. Lists are checked item by item."""

    def check(value):
        try:
            for item in value if isinstance(value, list) else [] if value is None else [value]:
                naming.checked(kind, item)
        except InvalidName as e:
            raise typer.BadParameter(str(e)) from None
        return value

    return check


TopologyArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="topology YAML file")]
IdArg = Annotated[str, typer.Argument(help="honeynet id", callback=checked("id"),
                                      autocompletion=complete.honeynets)]
IdsArg = Annotated[list[str] | None, typer.Argument(help="honeynet ids (default: all)", callback=checked("id"),
                                                   autocompletion=complete.honeynets)]
GuestArg = Annotated[str, typer.Argument(help="honeypot, gateway or outside host", callback=checked("guest"),
                                         autocompletion=complete.guests)]
GuestsArg = Annotated[list[str] | None, typer.Argument(help="honeypots (default: all)", callback=checked("guest"),
                                                       autocompletion=complete.honeypots)]
RecipeArg = Annotated[str, typer.Argument(help="recipe name (a folder of images/)", autocompletion=complete.recipes)]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output (errors too)")]
UriOpt = Annotated[str, typer.Option("--uri", help="libvirt URI")]
StorageOpt = Annotated[Path, typer.Option("--storage", help="vhoneynet's storage folder")]
ProbeOpt = Annotated[bool, typer.Option("--probe/--no-probe",
                                        help="also wait until each honeypot's services answer an outside host")]
TimeoutOpt = Annotated[float, typer.Option(help="seconds to wait for the guests to be ready")]
_state = {"debug": False}


def _version(shown: bool) -> None:
    if shown:
        out.print(text(f"vhoneynet {__version__}"), highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False,
    version: Annotated[bool, typer.Option("--version", help="print the version and exit", is_eager=True,
                                          callback=_version)] = False,
) -> None:
    private_process()  # before any command writes: run folders, captures, exports are root's alone
    _state["debug"] = debug


def backends(uri: str = DEFAULT_URI):
    """The live backends of this host (libvirt at `uri`). Raises HypervisorUnavailable."""
    from vhoneynet.backends import Backends

    return Backends.for_host(uri)


F = TypeVar("F", bound=Callable[..., Any])


def reports(command: F) -> F:
    """Wrap a command so that a VhoneynetError becomes its message and its class's exit code
    (errors.py), as `{"error": {...}}` on stdout when the command was given `--json`; any other
    exception is a bug: its traceback and exit code 70."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except VhoneynetError as e:
            raise fail(e, as_json=kwargs.get("as_json", False)) from None
        except (typer.Exit, typer.Abort, ClickException, KeyboardInterrupt):
            raise
        except Exception:  # noqa: BLE001 - the one place that turns a bug into its exit code
            err.print_exception()
            raise typer.Exit(errors.INTERNAL) from None

    return run  # type: ignore[return-value]


def fail(e: VhoneynetError, as_json: bool = False) -> typer.Exit:
    """Report `e` (stderr, or stdout as JSON) and return the Exit of its exit code."""
    if _state["debug"]:
        err.print_exception()
    if as_json:
        _print_error(type(e).__name__, str(e), *_where(e), problems=_problems(e))
    else:
        err.print(text("error:", "red"), text(e, multiline=True), highlight=False, soft_wrap=True)  # paths stay whole
    return typer.Exit(e.exit_code)


def _where(e: VhoneynetError) -> tuple[str | None, int | None]:
    if isinstance(e, TopologyInvalid) and e.problems:
        field, line, _ = e.problems[0]
        return field, line
    if isinstance(e, TopologySyntaxError):
        return None, e.line
    return None, None


def _problems(e: VhoneynetError) -> list[dict] | None:
    if isinstance(e, TopologyInvalid):
        return [{"field": f, "line": line, "message": m} for f, line, m in e.problems]
    return None


def _print_error(kind: str, message: str, field: str | None, line: int | None, problems: list | None = None) -> None:
    error: dict[str, object] = {"kind": kind, "message": message, "field": field, "line": line}
    if problems is not None:
        error["problems"] = problems
    print_json({"error": error})


def progress(message: str) -> None:
    print_line(err, message)


@contextlib.contextmanager
def progress_for(as_json: bool = False, console: Console | None = None) -> Iterator[Callable[[str], None]]:
    """The progress callback of a command that builds images or waits for guests: on a terminal,
    lines plus live tables of the build steps and the guests (cli/live.py); under `--json` or
    when stderr is not a terminal (CI, a pipe), the plain timestamped lines, exactly as `progress`
    prints them."""
    console = console or err
    if as_json or not console.is_terminal:
        yield progress if console is err else functools.partial(print_line, console)
        return
    live = LiveProgress(console)
    try:
        yield live
    finally:
        live.close()


def print_json(data: object) -> None:
    sys.stdout.write(json_text(data, indent=2) + "\n")


def json_text(data: object, indent: int | None = None) -> str:
    """JSON fit for a terminal: json.dumps escapes every control character but DEL; escape it too."""
    return json.dumps(data, indent=indent, default=str).replace("\x7f", "\\u007f")


def cell(value: object) -> Text:
    """A table cell of data: sanitised, never markup."""
    return text(value)
