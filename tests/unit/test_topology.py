from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from vhoneynet.errors import TopologyInvalid, TopologySyntaxError
from vhoneynet.topology import load, loads
from vhoneynet.topology.schema import schema_json

KNOWN = {"honeywall", "linux-dns", "linux-web"}
MINIMAL = "id: t1\nhoneypots:\n  - name: web\n    image: linux-web\n    address: 203.0.113.10\n"


def problems(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(TopologyInvalid) as info:
        loads(text, "t.yml", KNOWN)
    return info.value.problems


def test_demo_topology_loads_with_defaults():
    topo = load(REPO / "topologies" / "demo.yml", KNOWN)
    assert topo.id == "demo"
    assert [h.name for h in topo.honeypots] == ["dns", "web"]
    assert topo.gateway.data_control.limits.tcp == 20
    assert topo.host.accel == "auto"


def test_minimal_topology_gets_defaults():
    topo = loads(MINIMAL, known_images=KNOWN)
    assert str(topo.networks.honeynet.cidr) == "203.0.113.0/24"
    assert topo.honeypots[0].memory == 512 and topo.honeypots[0].agent is True


def test_defaults_then_kind_then_node():
    topo = loads(
        "id: t1\ndefaults: {memory: 300, vcpus: 2}\nkinds:\n  linux-web: {memory: 400, agent: false}\n"
        "honeypots:\n  - {name: a, image: linux-web, address: 203.0.113.10}\n"
        "  - {name: b, image: linux-web, address: 203.0.113.11, memory: 500}\n"
        "  - {name: c, image: linux-dns, address: 203.0.113.12}\n",
        known_images=KNOWN,
    )
    a, b, c = topo.honeypots
    assert (a.memory, a.vcpus, a.agent) == (400, 2, False)
    assert (b.memory, b.agent) == (500, False)
    assert (c.memory, c.agent) == (300, True)


def test_unknown_field_named_with_line():
    found = problems(MINIMAL + "    memroy: 512\n")
    assert found == [("honeypots[0].memroy", 6, "unknown field")]


def test_missing_field_named_with_line():
    found = problems("id: t1\nhoneypots:\n  - name: web\n    image: linux-web\n")
    assert found == [("honeypots[0].address", 3, "required field is missing")]


def test_bad_value_named_with_line():
    found = problems("id: t1\ngateway:\n  memory: 12\n")
    assert found[0][:2] == ("gateway.memory", 3)


def test_bad_id():
    found = problems("id: Demo-1\n")
    assert found[0][:2] == ("id", 1)


def test_every_semantic_problem_reported_at_once():
    found = problems(
        "id: t1\n"
        "networks:\n  admin: {cidr: 203.0.113.0/28}\n"
        "honeypots:\n"
        "  - {name: web, image: linux-web, address: 10.0.0.1}\n"
        "  - {name: web, image: nosuch, address: 203.0.113.20}\n"
        "outside:\n"
        "  - {name: gateway, address: 203.0.113.20}\n"
    )
    fields = {f: line for f, line, _ in found}
    assert fields == {
        "networks.admin.cidr": 3,
        "honeypots[0].address": 5,
        "honeypots[1].name": 6,
        "honeypots[1].image": 6,
        "outside[0].name": 8,
        "outside[0].address": 8,
    }


def test_brought_disk_must_be_an_absolute_path_to_a_readable_file(tmp_path: Path):
    disk = tmp_path / "cloud.qcow2"
    disk.write_bytes(b"QFI\xfb")

    def pot(i: int, image: str) -> str:
        return f"  - {{name: p{i}, image: '{image}', address: 203.0.113.{10 + i}}}\n"

    found = problems("id: t1\nhoneypots:\n" + pot(0, "file:cloud.qcow2") + pot(1, f"file:{tmp_path}/nosuch.qcow2")
                     + pot(2, f"file:{disk}"))
    assert [(f, line) for f, line, _ in found] == [("honeypots[0].image", 3), ("honeypots[1].image", 4)]
    assert "absolute path" in found[0][2] and "no such disk" in found[1][2]


def test_yaml_syntax_error_names_line():
    with pytest.raises(TopologySyntaxError, match=r"t.yml:3: .*duplicate key"):
        loads("id: t1\nversion: 1\nid: t2\n", "t.yml")


def test_not_a_mapping():
    with pytest.raises(TopologySyntaxError, match="mapping"):
        loads("- a\n- b\n", "t.yml")


def test_missing_file(tmp_path: Path):
    with pytest.raises(TopologySyntaxError, match="No such file"):
        load(tmp_path / "nope.yml")


def test_committed_schema_is_current():
    assert (REPO / "docs" / "topology.schema.json").read_text() == schema_json()


def test_schema_describes_honeypot_fields():
    import json

    schema = json.loads(schema_json())
    assert {"name", "image", "address"} <= set(schema["$defs"]["Honeypot"]["required"])
