"""The `vhoneynet` command: thin typer commands over the lifecycle, one module per domain; no
libvirt here. Its exit codes and JSON output are a contract for scripts (docs/cli.md).

Each command imports what it runs inside its own body, so `--help` and shell completion
load neither libvirt nor the lifecycle; these imports are for start-up time, not for cycles
(tests/unit/test_imports.py keeps the package free of those)."""

from vhoneynet.cli import capture, control, honeynet, host, images, labs  # noqa: F401  (they register their commands)
from vhoneynet.cli.base import app

__all__ = ["app"]
