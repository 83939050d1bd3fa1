from __future__ import annotations

from tests.conftest import REPO
from vhoneynet import naming
from vhoneynet.plan import admin_addresses, plan
from vhoneynet.topology import load, loads


def demo():
    return load(REPO / "topologies" / "demo.yml")


def test_every_name_carries_the_id_and_fits_the_kernel():
    p = plan(demo())
    links = [b.name for b in p.bridges] + [n.tap for g in p.guests for n in g.nics] + [o.veth for o in p.outside]
    assert all(name.startswith("vhndemo-") and len(name) <= 15 for name in links)
    assert len(set(links)) == len(links)
    assert all(g.domain.startswith("vhn-demo-") for g in p.guests)
    assert [o.netns for o in p.outside] == ["vhn-demo-attacker"]


def test_gateway_first_with_three_nics():
    p = plan(demo())
    assert p.guests[0].role == "gateway"
    assert [n.role for n in p.gateway.nics] == ["ext", "int", "adm"]
    assert [n.bridge for n in p.honeypots[0].nics] == ["vhndemo-int"]


def test_only_admin_bridge_has_a_host_address():
    p = plan(demo())
    assert {b.role: str(b.address) if b.address else None for b in p.bridges} == {
        "ext": None, "int": None, "adm": "10.254.0.1/29",
    }
    host, gw = admin_addresses(demo())
    assert (str(host), str(gw)) == ("10.254.0.1/29", "10.254.0.2/29")


def test_existing_internet_bridge_is_used_not_owned():
    topo = loads("id: t1\nnetworks:\n  internet: {mode: bridge, bridge: br-lab}\n")
    ext = plan(topo).bridge("ext")
    assert (ext.name, ext.owned) == ("br-lab", False)


def test_macs_are_stable_and_distinct():
    p1, p2 = plan(demo()), plan(demo())
    macs = [n.mac for g in p1.guests for n in g.nics]
    assert macs == [n.mac for g in p2.guests for n in g.nics]
    assert len(set(macs)) == len(macs)
    assert naming.mac("demo", "web") != naming.mac("demo2", "web")


def test_steps_in_order():
    kinds = [s["step"] for s in plan(demo()).steps()]
    assert kinds == ["image"] * 3 + ["bridge"] * 3 + ["host-firewall", "outside-host", "storage-pool"] + ["guest"] * 3 + ["wait"]


def test_up_executes_the_plans_actions_and_nothing_else(tmp_path, monkeypatch):
    from tests.fakes import fake_backends, topology
    from vhoneynet import lifecycle
    from vhoneynet.plan import AddOutsideHost, Plan

    planned = Plan.actions
    monkeypatch.setattr(Plan, "actions", lambda self: tuple(a for a in planned(self) if not isinstance(a, AddOutsideHost)))
    b = fake_backends(tmp_path / "images")
    topo = topology(tmp_path / "storage")
    lifecycle.up(topo, b, probe=False)
    assert b.net.netns("vhn-") == []  # the outside host was planned out, so `up` made none
    assert [s["step"] for s in plan(topo).steps()].count("outside-host") == 0
    assert sorted(g.guest for g in b.hv.guests(topo.id)) == ["dns", "gateway", "web"]
