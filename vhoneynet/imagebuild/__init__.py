"""Steps that turn a recipe into a root tree and a disk image; used by vhoneynet.images."""
