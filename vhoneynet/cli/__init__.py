"""The `vhoneynet` command: thin typer commands over the lifecycle, one module per domain; no
libvirt here. Its exit codes and JSON output are a contract for scripts (docs/cli.md)."""

from vhoneynet.cli import capture, control, honeynet, host, images, labs  # noqa: F401  (they register their commands)
from vhoneynet.cli.base import app

__all__ = ["app"]
