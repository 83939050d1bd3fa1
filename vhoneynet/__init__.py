"""vhoneynet: virtual honeynets on libvirt, from one YAML file."""

__version__ = "0.1.0"
