"""A honeypot (or the gateway) answers its guest agent's calls like an attacker would.

The real `Hypervisor` runs over a fake libvirt connection whose domains name an agent port in
their XML, and the agent channel behind that port answers with hostile replies; every malformed
reply must become AgentUnavailable, and `down` / `reset`'s hang-up must go on removing whatever
the guest answers.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import libvirt
import pytest

from tests.integration.conftest import honeynet_up, leftovers, vhn
from vhoneynet import naming
from vhoneynet.backend import agent_channel
from vhoneynet.backend import libvirt as backend
from vhoneynet.backend.libvirt import (
    AGENT_REPLY_MAX,
    EXEC_OUTPUT_MAX,
    Hypervisor,
    agent_port,
    agent_reply,
)
from vhoneynet.backends import Backends
from vhoneynet.capture import sessions
from vhoneynet.errors import FAILED, AgentUnavailable
from vhoneynet.gateway.live import verify
from vhoneynet.lifecycle import down
from vhoneynet.plan import plan, verify_addresses
from vhoneynet.topology import loads

HID = "vhostile"
PONG = json.dumps({"return": {}})

Answer = Callable[[dict, float], str]  # (request, timeout) -> reply text, or raises


def libvirt_error(message: str) -> libvirt.libvirtError:
    return libvirt.libvirtError(message)


def not_responding(domain: str = "pot") -> AgentUnavailable:
    """What the agent channel raises when a guest says nothing in time."""
    return AgentUnavailable(domain, "guest-exec: no reply from the agent in time")


LISTENING: dict[Path, FakeDomain] = {}  # agent port -> the fake domain whose agent answers on it


class FakeDomain:
    """A libvirt domain of honeynet HID whose guest agent answers with `answer`."""

    def __init__(self, guest: str, role: str, answer: Answer):
        self.guest, self.role, self.answer = guest, role, answer
        self.active, self.defined = True, True
        self.asked: list[tuple[str, float]] = []
        self.port = Path(f"/run/{HID}/{guest}.agent.sock")
        LISTENING[self.port] = self

    def name(self) -> str:
        return naming.domain(HID, self.guest)

    def XMLDesc(self, _flags=0) -> str:  # the guest console on port 0, the agent on port 1
        return (f'<domain><name>{self.name()}</name><devices>'
                f'<serial type="pty"><target type="isa-serial" port="0"/></serial>'
                f'<serial type="unix"><source mode="bind" path="{self.port}"/>'
                f'<target type="isa-serial" port="1"><model name="isa-serial"/></target></serial>'
                f'</devices></domain>')

    def metadata(self, *_):
        return (f'<vhn:honeynet xmlns:vhn="{naming.METADATA_NS}" id="{HID}" guest="{self.guest}" '
                f'role="{self.role}" image="linux-dns"/>')

    def state(self):
        return (libvirt.VIR_DOMAIN_RUNNING if self.active else libvirt.VIR_DOMAIN_SHUTOFF), 0

    def isActive(self) -> bool:
        return self.active

    def destroy(self) -> None:
        self.active = False

    def undefineFlags(self, _flags) -> None:
        self.defined = False

    def agent_command(self, command: str, arguments: dict, timeout: float) -> str:
        self.asked.append((command, timeout))
        return self.answer({"execute": command, "arguments": arguments}, timeout)


class FakeConnection:
    def __init__(self, domains: list[FakeDomain]):
        self.domains = {d.name(): d for d in domains}

    def listAllDomains(self):
        return [d for d in self.domains.values() if d.defined]

    def lookupByName(self, name: str) -> FakeDomain:
        if name not in self.domains or not self.domains[name].defined:
            raise libvirt_error(f"no domain {name}")
        return self.domains[name]

    def listAllStoragePools(self):
        return []


class FakeNet:
    def netns(self, _prefix: str) -> list[str]:
        return []

    def links(self, _prefix: str) -> list[str]:
        return []


class FakeFirewall:
    def tables(self) -> list[str]:
        return []


@pytest.fixture(autouse=True)
def fake_agent_channel(monkeypatch, request):
    """The agent channel goes to the fake domain listening on the port its XML names; not for a
    test on real guests, whose honeynet this process brings up through the real channel."""
    if request.node.get_closest_marker("libvirt") is None:
        LISTENING.clear()
        monkeypatch.setattr(agent_channel, "call", lambda _domain, port, command, arguments, timeout:
                            LISTENING[port].agent_command(command, arguments, timeout))


def hypervisor(*domains: FakeDomain) -> Hypervisor:
    hv = Hypervisor("test:///hostile")
    hv._conn = FakeConnection(list(domains))  # type: ignore[assignment]
    return hv


def status(**fields) -> str:
    return json.dumps({"return": {"exited": True, "exitcode": 0, **fields}})


def agent(exec_reply: str | Exception | None = None, status_reply: str | Exception | None = None,
          ping: str | Exception = PONG) -> Answer:
    """Answers guest-ping with `ping`, guest-exec with `exec_reply` (default: pid 7), and
    guest-exec-status with `status_reply` (default: ended, no output); an exception is raised."""
    def answer(request: dict, _timeout: float) -> str:
        reply = {"guest-ping": ping,
                 "guest-exec": exec_reply if exec_reply is not None else json.dumps({"return": {"pid": 7}}),
                 "guest-exec-status": status_reply if status_reply is not None else status()}[request["execute"]]
        if isinstance(reply, Exception):
            raise reply
        return reply
    return answer


# --- one place parses replies --------------------------------------------------

MALFORMED_ENVELOPES = {
    "not JSON": "garbage\x1b]0;owned\x07",
    "JSON list": "[1, 2]",
    "JSON null": "null",
    "JSON string": '"ok"',
    "no return": json.dumps({"error": {"class": "GenericError"}}),
    "deeply nested": "[" * 200_000 + "]" * 200_000,
    "huge number": '{"return": {"pid": ' + "9" * 5000 + "}}",
    "over the size bound": json.dumps({"return": {"pid": 7, "pad": "x" * AGENT_REPLY_MAX}}),
}


@pytest.mark.parametrize("reply", MALFORMED_ENVELOPES.values(), ids=MALFORMED_ENVELOPES.keys())
def test_a_malformed_reply_is_agent_unavailable(reply):
    with pytest.raises(AgentUnavailable):
        agent_reply("pot", "guest-exec", reply)


def test_a_reply_that_is_not_text_is_agent_unavailable():
    with pytest.raises(AgentUnavailable):
        agent_reply("pot", "guest-exec", b'{"return": {"pid": 7}}')


EXEC_SHAPES = {
    "pid as text": {"pid": "7"},
    "pid as bool": {"pid": True},
    "pid as float": {"pid": 7.0},
    "pid negative": {"pid": -1},
    "pid missing": {},
    "return a list": [7],
    "return a number": 7,
}


@pytest.mark.parametrize("value", EXEC_SHAPES.values(), ids=EXEC_SHAPES.keys())
def test_guest_exec_of_the_wrong_shape_is_agent_unavailable(value):
    with pytest.raises(AgentUnavailable, match="guest-exec: malformed reply"):
        agent_reply("pot", "guest-exec", json.dumps({"return": value}))


STATUS_SHAPES = {
    "exited as text": {"exited": "yes"},
    "exited as number": {"exited": 1},
    "exited missing": {"exitcode": 0},
    "exitcode as text": {"exited": True, "exitcode": "0"},
    "exitcode out of range": {"exited": True, "exitcode": 1 << 40},
    "out-data a number": {"exited": True, "exitcode": 0, "out-data": 12},
    "err-data an object": {"exited": True, "exitcode": 0, "err-data": {"a": 1}},
    "out-data over the bound": {"exited": True, "exitcode": 0, "out-data": "QUFB" * (EXEC_OUTPUT_MAX // 3 + 2)},
}


@pytest.mark.parametrize("value", STATUS_SHAPES.values(), ids=STATUS_SHAPES.keys())
def test_guest_exec_status_of_the_wrong_shape_is_agent_unavailable(value):
    with pytest.raises(AgentUnavailable, match="guest-exec-status: malformed reply"):
        agent_reply("pot", "guest-exec-status", json.dumps({"return": value}))


@pytest.mark.parametrize("reply", [json.dumps({"return": []}), json.dumps({"return": "pong"})])
def test_guest_ping_of_the_wrong_shape_is_not_ready(reply):
    pot = FakeDomain("dns", "honeypot", agent(ping=reply))
    assert hypervisor(pot).agent_ready(pot.name()) is False


def test_the_error_names_the_problem_not_the_guests_text():
    with pytest.raises(AgentUnavailable) as e:
        agent_reply("pot", "guest-exec", json.dumps({"return": {"pid": "\x1b[2J\x1b]0;owned\x07"}}))
    assert "\x1b" not in str(e.value) and "owned" not in str(e.value)


def test_invalid_base64_output_is_agent_unavailable():
    pot = FakeDomain("dns", "honeypot", agent(status_reply=status(**{"out-data": "!!not base64!!"})))
    with pytest.raises(AgentUnavailable, match="not base64"):
        hypervisor(pot).execute(pot.name(), ["true"])


def test_a_well_formed_run_still_works():
    out = base64.b64encode(b"pts/0\n").decode()
    pot = FakeDomain("dns", "honeypot", agent(status_reply=status(**{"out-data": out})))
    result = hypervisor(pot).execute(pot.name(), ["true"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, b"pts/0\n", b"")


def test_each_agent_call_may_take_what_is_left_of_the_commands_time():
    """A gateway busy under TCG can take more than ten seconds to spawn a command: the spawn
    waits as long as the command's own timeout allows, and the status polls what is left."""
    pot = FakeDomain("gateway", "gateway", agent(status_reply=status()))
    hypervisor(pot).execute(pot.name(), ["nft", "list", "ruleset"], timeout=30)
    (spawn, spawn_timeout), *polls = pot.asked
    assert spawn == "guest-exec" and 29 < spawn_timeout <= 30
    assert polls and all(t <= spawn_timeout for _, t in polls)


def test_a_command_killed_by_a_signal_reports_128_plus_it():
    pot = FakeDomain("dns", "honeypot", agent(status_reply=json.dumps({"return": {"exited": True, "signal": 9}})))
    assert hypervisor(pot).execute(pot.name(), ["true"]).exit_code == 137


def test_an_exec_that_never_ends_is_bounded_by_its_timeout():
    pot = FakeDomain("dns", "honeypot", agent(status_reply=json.dumps({"return": {"exited": False}})))
    started = time.monotonic()
    with pytest.raises(AgentUnavailable, match="still running"):
        hypervisor(pot).execute(pot.name(), ["sleep", "9"], timeout=1)
    assert time.monotonic() - started < 3
    assert all(t <= 10 for _, t in pot.asked)


# --- teardown never depends on a guest answering ------------------------------------

HOSTILE_AGENTS = {
    "wrong exec shape": agent(exec_reply=json.dumps({"return": {"pid": "7"}})),
    "exec not JSON": agent(exec_reply="\x00\xff garbage"),
    "exec a list": agent(exec_reply="[]"),
    "status wrong shape": agent(status_reply=json.dumps({"return": {"exited": "no"}})),
    "status bad base64": agent(status_reply=status(**{"out-data": "%%%"})),
    "exec not responding": agent(exec_reply=not_responding()),
    "exec raises anything": agent(exec_reply=RuntimeError("a bug or a surprise in the binding")),
    "exec undecodable": agent(exec_reply=UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")),
    "ping raises anything": agent(ping=MemoryError()),
}


@pytest.mark.parametrize("answer", HOSTILE_AGENTS.values(), ids=HOSTILE_AGENTS.keys())
def test_hang_up_treats_any_failure_as_agent_unavailable(answer):
    pot = FakeDomain("dns", "honeypot", answer)
    assert sessions.hang_up(hypervisor(pot), pot.name()) == []


@pytest.mark.parametrize("answer", HOSTILE_AGENTS.values(), ids=HOSTILE_AGENTS.keys())
def test_down_removes_every_guest_whatever_the_agents_answer(answer, tmp_path):
    gateway = FakeDomain("gateway", "gateway", answer)
    pots = [FakeDomain(name, "honeypot", answer) for name in ("dns", "web")]
    b = Backends(hypervisor(gateway, *pots), FakeNet(), FakeFirewall(), None)  # type: ignore[arg-type]
    result = down(HID, b, storage=tmp_path)
    assert sorted(result["removed"]["domains"]) == sorted(d.name() for d in (gateway, *pots))
    assert not any(d.defined or d.active for d in (gateway, *pots))


def test_a_guest_that_never_answers_holds_down_for_seconds_only(tmp_path):
    def silent(_request: dict, timeout: float) -> str:
        time.sleep(min(timeout, 0.2))  # stands for the channel waiting `timeout` seconds
        raise not_responding()

    guests = [FakeDomain("gateway", "gateway", silent), FakeDomain("dns", "honeypot", silent)]
    b = Backends(hypervisor(*guests), FakeNet(), FakeFirewall(), None)  # type: ignore[arg-type]
    down(HID, b, storage=tmp_path)
    for guest in guests:  # only the ping was tried, with a short timeout
        assert [command for command, _ in guest.asked] == ["guest-ping"]
        assert sum(t for _, t in guest.asked) <= 5


def test_a_guest_that_answers_the_ping_then_stalls_is_bounded(tmp_path):
    def stalls(request: dict, timeout: float) -> str:
        if request["execute"] == "guest-ping":
            return PONG
        time.sleep(min(timeout, 0.2))
        raise not_responding()

    guests = [FakeDomain("gateway", "gateway", stalls), FakeDomain("dns", "honeypot", stalls)]
    b = Backends(hypervisor(*guests), FakeNet(), FakeFirewall(), None)  # type: ignore[arg-type]
    down(HID, b, storage=tmp_path)
    for guest in guests:  # all of a guest's calls within its ping and its hang-up/flush bound
        assert sum(t for _, t in guest.asked) <= 2 + 15


# --- verify does not take a honeypot's word -------------------------------------------------

LIES = {
    "reports nothing sent": b'{"spoofed-ip": 0, "spoofed-mac": 0}',
    "reports all sent and blocked": b'{"spoofed-ip": 20, "spoofed-mac": 20}',
    "prints garbage": b"\x1b[2J not json",
}


class CountingFirewall:
    """The host's anti-spoofing counters of a honeypot, moved by `dropped` during its probe."""

    def __init__(self, dropped: int):
        self.reads, self.dropped = 0, dropped

    def honeypot_drops(self, hid: str, honeypot: str) -> int:
        self.reads += 1
        return 1000 + (self.dropped if self.reads > 1 else 0)


class LyingHoneypot:
    """A honeypot's agent that runs nothing and prints `claim` as the sender's report."""

    def __init__(self, claim: bytes):
        self.claim = claim

    def guests(self, hid: str):
        return [backend.GuestInfo(naming.domain(hid, "dns"), hid, "dns", "honeypot", "linux-dns", None, "running")]

    def execute(self, domain: str, argv: list[str], stdin=None, timeout: float = 120):
        return backend.ExecResult(0, self.claim, b"")


def host_verdict(monkeypatch, claim: bytes, dropped: int, at_gateway: dict):
    """The host anti-spoofing row of verify, with the host measuring `dropped` and `at_gateway`."""
    topo = loads("id: vlie\nhoneypots:\n  - {name: dns, image: linux-dns, address: 203.0.113.53}\n")
    monkeypatch.setattr(verify, "_counter", lambda *a, **k: None)
    monkeypatch.setattr(verify, "_finish", lambda proc, seconds: at_gateway)
    b = Backends(LyingHoneypot(claim), FakeNet(), CountingFirewall(dropped), None)  # type: ignore[arg-type]
    host = verify._host_layer(topo, plan(topo), b, {"probes": []}, verify_addresses(topo)[2])
    return verify._verdicts(topo, {}, {}, host, 0, 1)[2]


@pytest.mark.parametrize("claim", LIES.values(), ids=LIES.keys())
def test_the_host_anti_spoofing_verdict_follows_the_host_counters_not_the_honeypot(monkeypatch, claim):
    row = host_verdict(monkeypatch, claim, dropped=40, at_gateway={})
    assert (row.layer, row.verdict, row.sent, row.arrived) == ("anti-spoofing: host (nftables)", "pass", 40, 0)


@pytest.mark.parametrize("claim", LIES.values(), ids=LIES.keys())
def test_a_honeypot_claiming_its_spoofs_were_blocked_does_not_make_a_pass(monkeypatch, claim):
    assert host_verdict(monkeypatch, claim, dropped=0, at_gateway={}).verdict == "fail"  # nothing dropped: unproven
    leaked = host_verdict(monkeypatch, claim, dropped=40, at_gateway={"host-spoofed-ip": 3})
    assert (leaked.verdict, leaked.arrived) == ("fail", 3)


# --- a real honeypot whose agent turned hostile ------------------------------------------

ONE_HONEYPOT = [{"name": "dns", "image": "linux-dns", "address": "203.0.113.53"}]

FAKE_AGENT = r'''
"""Stands in for qemu-ga on its serial port (COM2): syncs and pings right, then answers each
guest-exec with the next hostile reply of argv[1:]."""
import json, os, sys, time, tty
PORT = "/dev/ttyS1"
modes = sys.argv[1:]
fd = os.open(PORT, os.O_RDWR | os.O_NOCTTY)
tty.setraw(fd)  # no echo, no line editing, every byte as sent (as qemu-ga sets it)
def send(data):
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except OSError:
            time.sleep(0.1)
def reply(value):
    send(json.dumps({"return": value}).encode() + b"\n")
buf = b""
while True:
    chunk = os.read(fd, 65536)
    if not chunk:
        time.sleep(0.1)  # the host side is not connected
        continue
    buf += chunk.replace(b"\xff", b"")
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        try:
            request = json.loads(line)
        except ValueError:
            continue
        command = request.get("execute")
        if command in ("guest-sync", "guest-sync-delimited"):
            if command == "guest-sync-delimited":
                send(b"\xff")
            reply(request["arguments"]["id"])
        elif command == "guest-ping":
            reply({})
        elif command == "vhn-fake-agent":
            reply({"modes": modes})
        elif command == "guest-exec":
            mode = modes.pop(0) if modes else "list"
            if mode == "list":
                reply([])
            elif mode == "status":
                reply({"pid": 4242})
            elif mode == "nonjson":
                send(b"}{ not json \x1b[2J\n")
            elif mode == "huge":
                send(b"x" * (10 << 20) + b"\n")
            # "silent": no answer at all
        elif command == "guest-exec-status":
            reply({"exited": "yes", "exitcode": "0", "out-data": "%%%"})
        else:
            send(json.dumps({"error": {"class": "CommandNotFound", "desc": command}}).encode() + b"\n")
'''


def _install_fake_agent(h, guest: str, modes: list[str]) -> None:
    """Replace the guest's agent (serial-relay) by FAKE_AGENT, in its own unit so stopping the agent does not kill it."""
    domain = naming.domain(h.hid, guest)
    vhn("exec", h.hid, guest, "--", "/bin/sh", "-c", "cat > /root/fake-agent.py", stdin=FAKE_AGENT.encode())
    script = ("sleep 2; systemctl stop serial-relay; "
              f"exec python3 /root/fake-agent.py {' '.join(modes)}")
    vhn("exec", h.hid, guest, "--", "systemd-run", "--unit=vhn-fake-agent", "--collect", "/bin/sh", "-c", script)
    hv = Hypervisor("qemu:///system")
    try:
        port = agent_port(domain, hv.domain_xml(domain))
    finally:
        hv.close()
    deadline, problem = time.monotonic() + 90, ""
    while time.monotonic() < deadline:
        try:
            if "modes" in agent_channel.call(domain, port, "vhn-fake-agent", {}, 5):
                return
        except AgentUnavailable as e:
            problem = str(e)
        time.sleep(2)
    raise AssertionError(f"the fake agent did not take over in {guest}: {problem}")


def _refused_cleanly(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == FAILED and "Traceback" not in err and "cannot run commands in" in err, err
    return err


@pytest.mark.root
@pytest.mark.libvirt
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_reset_and_down_go_on_when_a_honeypots_agent_turns_hostile(tmp_path_factory):
    with honeynet_up(tmp_path_factory, honeypots=ONE_HONEYPOT) as h:
        _install_fake_agent(h, "dns", ["list", "status", "silent", "huge"])
        for _ in ("list", "status", "silent"):  # `exec`: a clear error each time, never a traceback
            _refused_cleanly(vhn("exec", h.hid, "dns", "--timeout", "20", "--", "true", check=False, timeout=50))

        started = time.monotonic()
        vhn("reset", h.hid, "dns")  # its hang-up meets the 10 MB line; the disk is reverted all the same
        reset_seconds = time.monotonic() - started
        assert h.exec("dns", "true").returncode == 0  # pristine again: the real agent answers

        _install_fake_agent(h, "dns", ["nonjson"])
        started = time.monotonic()
        vhn("down", h.hid)
        down_seconds = time.monotonic() - started
        assert not any(leftovers(h.hid).values()), leftovers(h.hid)
        print(f"reset {reset_seconds:.1f} s, down {down_seconds:.1f} s with a hostile agent")
