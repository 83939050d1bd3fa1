"""The topology's own rule files (`gateway.data_control.ips.rule_files`: ET Open or a user's),
read on the host to be copied onto the gateway's config disk.

Kept apart from gateway/config/ips.py so that topology validation can use it without importing the
topology model back.
"""

from __future__ import annotations

from pathlib import Path
from stat import S_ISREG

MAX_RULE_FILE_BYTES = 64 * 1024**2  # ET Open's whole set is about 40 MiB


def read_rule_file(path: Path) -> str:
    """The text of one of the topology's rule files, read on this host.

    Raises OSError if it cannot be read, ValueError if it is not an absolute path to a regular
    file of at most MAX_RULE_FILE_BYTES or not UTF-8 text.
    """
    if not path.is_absolute():
        raise ValueError(f"{path}: give the rule file's absolute path")
    st = path.stat()
    if not S_ISREG(st.st_mode):
        raise ValueError(f"{path}: not a regular file")
    if st.st_size > MAX_RULE_FILE_BYTES:
        raise ValueError(f"{path}: {st.st_size} bytes, more than {MAX_RULE_FILE_BYTES} (the gateway's config disk)")
    with open(path, "rb") as f:
        data = f.read(MAX_RULE_FILE_BYTES + 1)
    if len(data) > MAX_RULE_FILE_BYTES:
        raise ValueError(f"{path}: grew beyond {MAX_RULE_FILE_BYTES} bytes while read")
    try:
        return data.decode()
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (byte {e.start})") from None
