"""Guest images: build one from its recipe, list the recipes and what is built. Thin: the logic
is in vhoneynet.images."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vhoneynet.cli.base import (
    IdsArg,
    JsonOpt,
    RecipeArg,
    StorageOpt,
    UriOpt,
    app,
    cell,
    image_app,
    out,
    print_json,
    progress_for,
    reports,
)
from vhoneynet.terminal import markup
from vhoneynet.topology.model import DEFAULT_STORAGE, DEFAULT_URI


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
    from vhoneynet.warmstore import WarmStore

    store = ImageStore()
    rows = store.list()
    kept = WarmStore(store.root.parent).all()
    for r in rows:  # the honeypots' memory states kept over this build (`vhoneynet prune` removes them)
        r["warm_states"] = [k.as_dict() for k in kept if k.origin.image == f"{r['name']}-{r['digest']}"]
    if as_json:
        return print_json(rows)
    table = Table("recipe", "digest", "built", "size", "path", "warm states kept")
    for r in rows:
        states = ", ".join(f"{k['id']}/{k['guest']}" for k in r["warm_states"]) or "-"
        table.add_row(*(cell(r.get(k, "")) for k in ("name", "digest", "built", "size", "path")), cell(states))
    out.print(table)
    others = [k for k in kept if not any(k.as_dict() in r["warm_states"] for r in rows)]
    if others:
        out.print(markup("{} more warm states kept over brought disks or earlier builds", len(others)))


@app.command()
@reports
def prune(
    hids: IdsArg = None,
    images: Annotated[bool, typer.Option("--images", help="also the builds of earlier recipe versions no disk uses")] = False,
    storage: StorageOpt = DEFAULT_STORAGE,
    as_json: JsonOpt = False,
) -> None:
    """Remove the warm states kept for the next `up` (of these honeynets, default all); a running
    honeynet keeps its own until `down`."""
    from vhoneynet.images import ImageStore
    from vhoneynet.prune import prune as prune_

    result = prune_(storage, hids or None, images=images, store=ImageStore(storage / "images"))
    if as_json:
        return print_json(result)
    for k in result["warm_states"]:
        out.print(markup("warm state {}/{} removed", k["id"], k["guest"]))
    for b in result["images"]:
        out.print(markup("image build {} removed", b["path"]))
    out.print(markup("{:.1f} GiB freed", result["bytes"] / 2**30))
