"""The backends' Protocols: the real classes and the fakes satisfy them, and they name exactly
what the code above the backends calls; `execute` over them."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.fakes import (
    HID,
    FakeCapture,
    FakeFirewall,
    FakeHypervisor,
    FakeImages,
    FakeNet,
    fake_backends,
    topology,
)
from vhoneynet import images, lifecycle, naming
from vhoneynet.backend import hostfw, netlink, protocols
from vhoneynet.backend import libvirt as virt
from vhoneynet.backends import Backends, LocalCapture, execute
from vhoneynet.errors import (
    AgentUnavailable,
    GuestNotFound,
    HoneynetNotFound,
    InvalidName,
)

BACKENDS = {  # Backends field -> (Protocol, real class, fake class)
    "hv": (protocols.Hypervisor, virt.Hypervisor, FakeHypervisor),
    "net": (protocols.HostNet, netlink.HostNet, FakeNet),
    "fw": (protocols.HostFirewall, hostfw.HostFirewall, FakeFirewall),
    "images": (protocols.ImageStore, images.ImageStore, FakeImages),
    "capture": (protocols.CaptureHost, LocalCapture, FakeCapture),
}
# Where the host is acted on through Backends (or a backend handed down from it).
CALLERS = ["lifecycle.py", "labs.py", "warm.py", "backends.py", "tells.py", "probes.py", "capture/sessions.py", "gateway/live/*.py", "cli/*.py"]
_CALL = re.compile(r"\bb\.(hv|net|fw|images|capture)\.(\w+)|\b(hv|net)\.(\w+)\(")


def methods(protocol: type) -> list[str]:
    return sorted(n for n, v in vars(protocol).items() if inspect.isfunction(v) and not n.startswith("_"))


def incompatible(wanted: inspect.Signature, given: inspect.Signature) -> str | None:
    """Why a method with signature `given` cannot stand where `wanted` is asked for, or None."""
    have = list(given.parameters.values())
    for i, p in enumerate(wanted.parameters.values()):
        if i >= len(have) or have[i].name != p.name:
            return f"parameter {i} should be {p.name!r}"
        if have[i].kind != p.kind:
            return f"{p.name!r} is {have[i].kind.description}, not {p.kind.description}"
        if p.default is not p.empty and have[i].default is p.empty:
            return f"{p.name!r} needs a default"
    extra = [p.name for p in have[len(wanted.parameters):] if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return f"extra parameters without a default: {extra}" if extra else None


@pytest.mark.parametrize("implementation", ["real", "fake"])
@pytest.mark.parametrize("field", BACKENDS)
def test_every_protocol_method_exists_with_a_compatible_signature(field, implementation):
    protocol, real, fake = BACKENDS[field]
    cls = real if implementation == "real" else fake
    for name in methods(protocol):
        assert callable(getattr(cls, name, None)), f"{cls.__name__} has no {name}"
        why = incompatible(inspect.signature(getattr(protocol, name)), inspect.signature(getattr(cls, name)))
        assert why is None, f"{cls.__name__}.{name}: {why}"


def test_the_real_classes_type_as_the_protocols(tmp_path: Path) -> None:
    # what a type checker verifies (mypy: annotated, so checked); at run time, the Backends of the host hold them
    hv: protocols.Hypervisor = virt.Hypervisor("test:///default")
    net: protocols.HostNet = netlink.HostNet()
    fw: protocols.HostFirewall = hostfw.HostFirewall()
    store: protocols.ImageStore = images.ImageStore(tmp_path)
    capture: protocols.CaptureHost = LocalCapture()
    b = Backends(hv, net, fw, store, capture)
    host = Backends.for_host("test:///default", tmp_path)
    assert [type(getattr(host, f)) for f in BACKENDS] == [type(getattr(b, f)) for f in BACKENDS]


def test_the_protocols_name_exactly_what_the_code_calls():
    root = REPO / "vhoneynet"
    called: dict[str, set[str]] = {field: set() for field in BACKENDS}
    for path in sorted({p for pattern in CALLERS for p in root.glob(pattern)}):
        for m in _CALL.finditer(Path(path).read_text()):
            field, name = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
            called[field].add(name)
    assert {f: sorted(names) for f, names in called.items()} == {f: methods(BACKENDS[f][0]) for f in BACKENDS}


# --- execute: a guest through its agent, by name -------------------------------------------


def test_execute_finds_the_guest_and_names_the_others(tmp_path):
    b = fake_backends(tmp_path / "images")
    lifecycle.up(topology(tmp_path / "storage"), b)
    assert execute(HID, "web", ["id"], b).exit_code == 0
    assert b.hv.executed == [(naming.domain(HID, "web"), ["id"])]  # type: ignore[attr-defined]
    with pytest.raises(GuestNotFound, match="guests: attacker, dns, gateway, web"):
        execute(HID, "nope", ["id"], b)
    with pytest.raises(HoneynetNotFound):
        execute("vnone", "web", ["id"], b)
    with pytest.raises(InvalidName):
        execute("", "web", ["id"], b)
    b.hv.agent_times_out.add("web")  # type: ignore[attr-defined]
    with pytest.raises(AgentUnavailable):
        execute(HID, "web", ["id"], b)
