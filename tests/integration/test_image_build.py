"""Build the gateway image for real (debootstrap, chroot, mkfs.ext4 -d) into the host's image store."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from vhoneynet.images import DEFAULT_STORE, ImageStore, Recipe

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="debootstrap and chroot need root"),
    pytest.mark.skipif(shutil.which("debootstrap") is None, reason="debootstrap is not installed"),
]


@pytest.fixture(scope="module")
def store() -> ImageStore:
    # The real store by default: a build made here is the one `vhoneynet up` uses later.
    # VHONEYNET_TEST_IMAGE_STORE points it elsewhere to exercise a cold build.
    return ImageStore(Path(os.environ.get("VHONEYNET_TEST_IMAGE_STORE", DEFAULT_STORE)))


def test_ensure_builds_the_gateway_and_its_parent(store: ImageStore):
    lines: list[str] = []
    image = store.ensure("honeywall", progress=lines.append)
    base = store.get("base")
    assert base is not None, "ensure must build the parent first"
    for built in (base, image):
        for path in (built.disk, built.kernel, built.initrd):
            assert path.is_file() and path.stat().st_size > 0, path
        assert stat.S_IMODE(built.disk.stat().st_mode) == 0o444
        info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", built.disk],
                                         capture_output=True, check=True, text=True).stdout)
        assert info["format"] == "qcow2" and info["virtual-size"] == 2 * 1024**3
    assert (base.disk.parent / "rootfs.tar").is_file(), "base is a parent: its tree is kept"
    assert image.kind == "gateway" and image.root_device == "/dev/vda"
    assert image.digest == Recipe.load("honeywall").digest()
    meta = json.loads((image.disk.parent / "image.json").read_text())
    assert meta["packages"]["suricata"].startswith("1:7.")
    assert any(k.startswith("linux-image-") for k in meta["packages"])
    assert not list(store.root.glob(".build-*")), "no build directory is left behind"


def test_second_ensure_is_a_cache_hit(store: ImageStore):
    store.ensure("honeywall")
    lines: list[str] = []
    started = time.monotonic()
    image = store.ensure("honeywall", progress=lines.append)
    assert time.monotonic() - started < 1.0
    assert lines == [], "a cache hit builds nothing"
    assert image == store.get("honeywall")
    rows = {r["name"]: r for r in store.list()}
    assert rows["honeywall"]["built"] and rows["base"]["built"]
