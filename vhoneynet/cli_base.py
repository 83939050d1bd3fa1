"""What every `vhoneynet` command shares: the app, its arguments and options (declared once),
and how output, progress and errors reach the terminal (always through the sanitiser)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from vhoneynet import naming
from vhoneynet.errors import InvalidName
from vhoneynet.permissions import private_process
from vhoneynet.terminal import text

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Virtual honeynets on libvirt, from one YAML file.")
host_app = typer.Typer(no_args_is_help=True, help="This host: what is missing, which acceleration.")
image_app = typer.Typer(no_args_is_help=True, help="Guest images built from the recipes in images/.")
app.add_typer(host_app, name="host")
app.add_typer(image_app, name="image")

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
IdArg = Annotated[str, typer.Argument(help="honeynet id", callback=checked("id"))]
GuestArg = Annotated[str, typer.Argument(help="honeypot, gateway or outside host", callback=checked("guest"))]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
UriOpt = Annotated[str, typer.Option("--uri", help="libvirt URI")]
StorageOpt = Annotated[Path, typer.Option("--storage", help="vhoneynet's storage folder")]
ProbeOpt = Annotated[bool, typer.Option("--probe/--no-probe",
                                        help="also wait until each honeypot's services answer an outside host")]
_state = {"debug": False}


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False) -> None:
    private_process()  # before any command writes: run folders, captures, exports are root's alone
    _state["debug"] = debug


def _fail(e: Exception) -> typer.Exit:
    """Report `e` and the exit code: 2 for a refused id or name (as for any invalid argument), else 1."""
    if _state["debug"]:
        err.print_exception()
    err.print(text("error:", "red"), text(e, multiline=True), highlight=False, soft_wrap=True)  # paths stay whole
    return typer.Exit(2 if isinstance(e, InvalidName) else 1)


def _progress(message: str) -> None:
    err.print(text(time.strftime('%H:%M:%S'), "dim"), text(message, multiline=True), highlight=False, soft_wrap=True)


def _print_json(data: object) -> None:
    sys.stdout.write(json_text(data, indent=2) + "\n")


def json_text(data: object, indent: int | None = None) -> str:
    """JSON fit for a terminal: json.dumps escapes every control character but DEL; escape it too."""
    return json.dumps(data, indent=indent, default=str).replace("\x7f", "\\u007f")


def cell(value: object) -> Text:
    """A table cell of data: sanitised, never markup."""
    return text(value)
