"""The topology: a typed, frozen model of one honeynet, loaded from YAML."""

from vhoneynet.topology.loader import load, load_with_recipes, loads
from vhoneynet.topology.model import Topology

__all__ = ["Topology", "load", "load_with_recipes", "loads"]
