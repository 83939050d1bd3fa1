"""Guest images: build one from its recipe, list the recipes and what is built. Thin: the logic
is in vhoneynet.images."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vhoneynet.cli.base import (
    JsonOpt,
    RecipeArg,
    UriOpt,
    cell,
    image_app,
    out,
    print_json,
    progress_for,
    reports,
)
from vhoneynet.terminal import markup
from vhoneynet.topology.model import DEFAULT_URI


@image_app.command("build")
@reports
def image_build(
    recipe: RecipeArg,
    force: Annotated[bool, typer.Option("--force", help="rebuild even when cached")] = False,
    iso: Annotated[Path | None, typer.Option("--iso", help="installation ISO (Windows recipes)")] = None,
    uri: UriOpt = DEFAULT_URI,
    as_json: JsonOpt = False,
) -> None:
    """Build an image from its recipe (cached by the recipe's content hash)."""
    from vhoneynet.backend.libvirt import Hypervisor
    from vhoneynet.images import ImageStore

    started = time.monotonic()
    with progress_for(as_json) as shown:
        image = ImageStore().build(recipe, force=force, progress=shown, iso=iso, hv=Hypervisor(uri))
    took = time.monotonic() - started
    if as_json:
        return print_json({"recipe": recipe, "digest": image.digest, "disk": str(image.disk), "seconds": round(took, 1)})
    out.print(markup("[green]{}[/] {} ready in {:.0f} s: {}", recipe, image.digest[:12], took, image.disk))


@image_app.command("list")
@reports
def image_list(as_json: JsonOpt = False) -> None:
    """Recipes and their built images."""
    from vhoneynet.images import ImageStore

    rows = ImageStore().list()
    if as_json:
        return print_json(rows)
    table = Table("recipe", "digest", "built", "size", "path")
    for r in rows:
        table.add_row(*(cell(r.get(k, "")) for k in ("name", "digest", "built", "size", "path")))
    out.print(table)
