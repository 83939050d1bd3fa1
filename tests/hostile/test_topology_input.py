"""Topology files written to hurt: binary junk, huge numbers, YAML bombs, endless nesting, 100 MB.

Each is refused with a clear error naming the file (and the field and line where there is one),
quickly, and never with a traceback.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from vhoneynet.errors import INVALID, TopologyInvalid, TopologySyntaxError
from vhoneynet.topology import load, loads
from vhoneynet.topology.loader import MAX_BYTES

BOMB = "id: demo\nkinds:\n  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"  {chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))


def limits(**fields) -> str:
    return "id: demo\ngateway:\n  data_control:\n" + "".join(
        f"    {section}:\n" + "".join(f"      {k}: {v}\n" for k, v in values.items())
        for section, values in fields.items())


def invalid(text: str) -> tuple[str, int | None, str]:
    with pytest.raises(TopologyInvalid) as e:
        loads(text, "t.yml")
    assert len(e.value.problems) == 1, e.value.problems
    return e.value.problems[0]


@pytest.mark.parametrize("data, problem", [
    (b"id: demo\x00\x00\x00\n", r"^x\.yml:1: control character '\\x00'"),
    (b"\x7fELF\x02\x01\x01\x00\x00\x00", r"^x\.yml:1: control character"),
    (b"id: demo\nname: \xff\xfe\xfa\n", r"^x\.yml:2: not UTF-8 text"),
    (b"id: demo\nx: \xc2\x9b2J\n", r"^x\.yml:2: control character '\\x9b'"),
], ids=["NUL bytes", "an ELF binary", "invalid UTF-8", "a C1 escape"])
def test_binary_input_is_a_clear_error_naming_the_file(tmp_path, data, problem):
    path = tmp_path / "x.yml"
    path.write_bytes(data)
    with pytest.raises(TopologySyntaxError, match=problem.replace("x\\.yml", str(path).replace(".", r"\."))):
        load(path)


@pytest.mark.parametrize("command", ["validate", "plan", "up"])
def test_the_cli_refuses_a_binary_file_without_a_traceback(tmp_path, command):
    path = tmp_path / "binary.yml"
    path.write_bytes(b"\x00\xff" * 64)
    proc = subprocess.run([sys.executable, "-m", "vhoneynet", command, str(path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == INVALID and "Traceback" not in proc.stderr + proc.stdout
    assert str(path) in proc.stderr + proc.stdout


def test_a_100_mb_file_is_refused_after_a_bounded_read(tmp_path):
    path = tmp_path / "big.yml"
    with path.open("wb") as f:
        f.write(b"id: demo\n# ")
        f.truncate(100 << 20)  # sparse: 100 MB to read, nothing to write
    started = time.monotonic()
    with pytest.raises(TopologySyntaxError, match=rf"{path.name}: larger than {MAX_BYTES >> 20} MiB"):
        load(path)
    assert time.monotonic() - started < 2


def test_a_connection_limit_past_32_bits_is_refused_by_field_and_line():
    assert invalid(limits(limits={"udp": 20, "tcp": 2**32})) == (
        "gateway.data_control.limits.tcp", 6, "Input should be less than or equal to 4294967295")


def test_the_largest_limit_nftables_keeps_is_accepted():
    assert loads(limits(limits={"tcp": 2**32 - 1})).gateway.data_control.limits.tcp == 2**32 - 1


def test_a_negative_limit_is_refused():
    field, line, _ = invalid(limits(limits={"icmp": -1}))
    assert (field, line) == ("gateway.data_control.limits.icmp", 5)


@pytest.mark.parametrize("setting, value", [("rate", "40gbit"), ("rate", "99999999999999999999kbps"),
                                            ("burst", "4194304kb"), ("burst", "5000mb")])
def test_throttle_rates_and_bursts_past_32_bits_are_refused(setting, value):
    field, line, message = invalid(limits(throttle={setting: value}))
    assert (field, line) == (f"gateway.data_control.throttle.{setting}", 5) and "4294967295" in message


@pytest.mark.parametrize("field, text, line", [
    ("honeypots[0].memory", "honeypots:\n  - {name: a, image: x, address: 203.0.113.5, memory: 99999999999999}\n", 3),
    ("honeypots[0].vcpus", "honeypots:\n  - {name: a, image: x, address: 203.0.113.5, vcpus: 100000}\n", 3),
    ("gateway.capture.retention_days", "gateway:\n  capture:\n    retention_days: 10000000000\n", 4),
    ("gateway.capture.rotate_mb", "gateway:\n  capture:\n    rotate_mb: 99999999999\n", 4),
    ("collect.hpfeeds.port", "collect:\n  url: https://c.example\n  token: 0123456789abcdef\n"
                             "  hpfeeds: {host: h, ident: i, secret: s, port: 70000}\n", 5),
    ("networks.honeynet.domain", f"networks:\n  honeynet:\n    domain: {'a' * 300}.example\n", 4),
])
def test_every_numeric_field_is_bounded_by_what_consumes_it(field, text, line):
    assert invalid("id: demo\n" + text)[:2] == (field, line)


def test_a_billion_laughs_is_refused_quickly():
    started = time.monotonic()
    with pytest.raises(TopologySyntaxError, match="aliases are expanded"):
        loads(BOMB, "t.yml")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("text", [
    "id: demo\nx: " + "[" * 100_000 + "]" * 100_000,
    "id: demo\nx: " + "{a: " * 10_000 + "1" + "}" * 10_000,
    "id: demo\n" + "".join("  " * i + f"k{i}:\n" for i in range(200)),
], ids=["flow lists", "flow mappings", "block mappings"])
def test_deep_nesting_is_refused_quickly(text):
    started = time.monotonic()
    with pytest.raises(TopologySyntaxError, match="nested deeper than"):
        loads(text, "t.yml")
    assert time.monotonic() - started < 2


def test_brackets_inside_quotes_and_comments_are_not_nesting():
    text = 'id: demo  # [[[[' + "[" * 100 + '\ngateway:\n  data_control:\n    ips:\n      rules:\n' \
           '        - \'alert tcp any any -> any any (msg:"' + "[" * 100 + '"; sid:1;)\'\n'
    assert loads(text).gateway.data_control.ips.rules[0].count("[") == 100


def test_an_integer_of_thousands_of_digits_is_a_clear_error():
    with pytest.raises(TopologySyntaxError, match="a value cannot be read"):
        loads(limits(limits={"tcp": "9" * 5000}), "t.yml")


def test_one_long_string_behind_many_aliases_is_refused():
    text = ("id: demo\nkinds:\n  x: {memory: 512}\ngateway:\n  data_control:\n    ips:\n      rules:\n"
            f"        - &long 'alert tcp any any -> any any (msg:\"{'A' * 100_000}\"; sid:1;)'\n"
            + "        - *long\n" * 200)
    with pytest.raises(TopologySyntaxError, match="of text once its aliases are expanded"):
        loads(text, "t.yml")
