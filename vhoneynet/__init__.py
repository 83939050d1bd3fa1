"""vhoneynet: virtual honeynets on libvirt, from one YAML file.

`from vhoneynet import Honeynet` gives the Python API (vhoneynet.api); it is imported on first
use, so `import vhoneynet` stays cheap (no libvirt) for the CLI and the pytest plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["Honeynet", "__version__"]

if TYPE_CHECKING:
    from vhoneynet.api import Honeynet


def __getattr__(name: str):
    if name == "Honeynet":
        from vhoneynet.api import Honeynet

        return Honeynet
    raise AttributeError(f"module 'vhoneynet' has no attribute {name!r}")
