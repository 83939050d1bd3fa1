"""A honeypot's seed travels inside its initrd: the image's initrd, then a newc archive."""

from __future__ import annotations

from pathlib import Path

from vhoneynet.backend.disks import newc_archive, write_initrd


def read_newc(data: bytes) -> dict[str, tuple[int, bytes]]:
    """name -> (mode, content) of a newc archive, as the kernel's unpacker reads it."""
    entries, at = {}, 0
    while True:
        assert data[at:at + 6] == b"070701", at
        fields = [int(data[at + 6 + 8 * i: at + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name_at = at + 110
        name = data[name_at:name_at + namesize - 1].decode()
        body = name_at + namesize + (-(name_at + namesize) % 4)
        if name == "TRAILER!!!":
            return entries
        entries[name] = (mode, data[body:body + size])
        at = body + size + (-(body + size) % 4)


def test_the_archive_holds_the_folder_then_its_files_owned_by_root():
    entries = read_newc(newc_archive("nocloud", {"meta-data": b"instance-id: i-1\n", "user-data": b"#cloud-config\n"}))
    assert list(entries) == ["nocloud", "nocloud/meta-data", "nocloud/user-data"]
    assert entries["nocloud"][0] == 0o040700 and entries["nocloud/meta-data"] == (0o100600, b"instance-id: i-1\n")


def test_the_initrd_is_the_image_s_own_then_the_archive_on_a_4_byte_boundary(tmp_path: Path):
    base = tmp_path / "initrd.img"
    base.write_bytes(b"\x28\xb5\x2f\xfd" + b"z" * 1001)  # any length: the archive starts aligned
    out = tmp_path / "guest-initrd.img"
    write_initrd(out, base, "nocloud", {"network-config": "version: 2\n"})
    data = out.read_bytes()
    assert data.startswith(base.read_bytes()) and data[1005:1008] == b"\0\0\0"
    assert read_newc(data[1008:])["nocloud/network-config"][1] == b"version: 2\n"
    assert out.stat().st_mode & 0o777 == 0o644 and not list(tmp_path.glob("*.partial"))
