"""Narrow backends: the only modules that touch the host, libvirt or the kernel."""
