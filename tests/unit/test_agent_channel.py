"""The agent channel against a fake qemu-guest-agent on a unix socket, honest and hostile, and
the lookup of that socket in a domain's XML."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from vhoneynet.backend import agent_channel
from vhoneynet.backend.libvirt import Hypervisor, Pong, agent_port, agent_reply
from vhoneynet.errors import AgentUnavailable

Pieces = Iterable[bytes]  # what the fake agent writes, piece by piece (each one sendall)


def line(doc: object) -> bytes:
    return json.dumps(doc).encode() + b"\n"


def sync_answer(token: int) -> Pieces:
    """qemu-ga's answer to guest-sync-delimited: the 0xFF sentinel, then the id."""
    return [b"\xff" + line({"return": token})]


def pong(_request: dict) -> Pieces:
    return [line({"return": {}})]


class FakeAgent:
    """A guest agent serving a unix socket from a thread, one client at a time like qemu's serial
    port. It reads requests like qemu-ga (a 0xFF drops what was half read) and answers
    guest-sync-delimited with `on_sync(id)`, any other request with `on_command(request)`."""

    def __init__(self, path: Path, on_command: Callable[[dict], Pieces] = pong,
                 on_sync: Callable[[int], Pieces] = sync_answer):
        self.path, self.on_command, self.on_sync = path, on_command, on_sync
        self.requests: list[dict] = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            with conn:
                try:
                    self._converse(conn)
                except OSError:
                    pass  # the client hung up

    def _converse(self, conn: socket.socket) -> None:
        buf = b""
        while chunk := conn.recv(65536):
            buf += chunk
            if b"\xff" in buf:
                buf = buf[buf.rindex(b"\xff") + 1:]
            while b"\n" in buf:
                text, buf = buf.split(b"\n", 1)
                request = json.loads(text)
                self.requests.append(request)
                if request["execute"] == "guest-sync-delimited":
                    pieces = self.on_sync(request["arguments"]["id"])
                else:
                    pieces = self.on_command(request)
                for piece in pieces:
                    conn.sendall(piece)

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept
        self.listener.close()
        self.thread.join(5)


@pytest.fixture
def port(tmp_path: Path) -> Path:
    return tmp_path / "agent.sock"


@pytest.fixture
def serve(port: Path) -> Iterator[Callable[..., FakeAgent]]:
    """Start a FakeAgent on `port` (stopped at the end of the test)."""
    started: list[FakeAgent] = []

    def start(on_command: Callable[[dict], Pieces] = pong, on_sync: Callable[[int], Pieces] = sync_answer) -> FakeAgent:
        started.append(FakeAgent(port, on_command, on_sync))
        return started[-1]

    yield start
    for agent in started:
        agent.close()


def call(port: Path, command: str = "guest-ping", arguments: dict | None = None, timeout: float = 5) -> str:
    return agent_channel.call("pot", port, command, arguments or {}, timeout)


def refused(port: Path, match: str, **kwargs) -> str:
    """The AgentUnavailable message of a call that must fail with `match` in it."""
    with pytest.raises(AgentUnavailable, match=match) as e:
        call(port, **kwargs)
    return str(e.value)


# --- an honest agent ----------------------------------------------------------------

def test_a_command_is_sent_after_the_sync_and_its_reply_returned(serve, port):
    agent = serve(lambda request: [line({"return": {"pid": 7, "seen": request["arguments"]}})])
    reply = call(port, "guest-exec", {"path": "/bin/true"})
    assert json.loads(reply) == {"return": {"pid": 7, "seen": {"path": "/bin/true"}}}
    sync, command = agent.requests
    assert sync["execute"] == "guest-sync-delimited" and type(sync["arguments"]["id"]) is int
    assert command == {"execute": "guest-exec", "arguments": {"path": "/bin/true"}}


def test_each_call_syncs_with_a_new_id(serve, port):
    agent = serve()
    call(port)
    call(port)
    ids = [r["arguments"]["id"] for r in agent.requests if r["execute"] == "guest-sync-delimited"]
    assert len(ids) == 2 and ids[0] != ids[1]


def test_the_reply_is_text_agent_reply_accepts(serve, port):
    serve()
    assert agent_reply("pot", "guest-ping", call(port)) == Pong()


def test_stale_output_and_an_earlier_calls_sync_answer_are_discarded(serve, port):
    def stale_first(token: int) -> Pieces:
        return [b"half a reply\x1b[2J\x00",
                b"\xff" + line({"return": token + 1}),  # an abandoned call's sync answer
                line({"return": {"pid": 3}}),  # an abandoned call's reply
                b"\xff" + b"y" * 1000 + b"\n",  # a sentinel, then a line too long to be a sync answer
                b"\xff\xff" + line({"return": token, "extra": 1}),
                *sync_answer(token)]

    serve(lambda _request: [line({"return": {"pid": 8}})], stale_first)
    assert json.loads(call(port, "guest-exec")) == {"return": {"pid": 8}}


def test_a_reply_split_across_many_small_writes_is_put_together(serve, port):
    reply = line({"return": {"exited": True, "exitcode": 0, "out-data": "QUJD" * 300}})

    def trickle(_request: dict) -> Pieces:
        for i in range(0, len(reply), 7):
            time.sleep(0.0005)
            yield reply[i:i + 7]

    def trickled_sync(token: int) -> Pieces:
        return [bytes([b]) for b in b"old \xff" + line({"return": token})]

    serve(trickle, trickled_sync)
    assert call(port, "guest-exec-status").encode() + b"\n" == reply


def test_a_held_lock_is_waited_for_and_the_lock_file_is_private(serve, port):
    serve()
    lock = Path(f"{port}.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    threading.Timer(0.3, os.close, [fd]).start()  # another process's call, ending in 0.3 s
    started = time.monotonic()
    call(port, timeout=5)
    assert time.monotonic() - started >= 0.25
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_calls_from_many_threads_each_get_their_own_reply(serve, port):
    serve(lambda request: [line({"return": {"pid": request["arguments"]["n"]}})])
    replies: dict[int, str] = {}
    threads = [threading.Thread(target=lambda n=n: replies.__setitem__(n, call(port, "guest-exec", {"n": n})))
               for n in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert {n: json.loads(r)["return"]["pid"] for n, r in replies.items()} == {n: n for n in range(1, 9)}


def test_the_lock_file_is_created_without_following_a_symlink(serve, port, tmp_path):
    serve()
    target = tmp_path / "elsewhere"
    Path(f"{port}.lock").symlink_to(target)
    refused(port, "lock")
    assert not target.exists()


# --- a hostile or absent agent --------------------------------------------------------------

def silent(_request: dict) -> Pieces:
    return []


@pytest.mark.parametrize("where", ["sync", "reply"])
def test_a_guest_that_never_answers_is_bounded_by_the_deadline(serve, port, where):
    if where == "sync":
        serve(on_sync=lambda _token: [])
    else:
        serve(silent)
    started = time.monotonic()
    message = refused(port, "in time", timeout=0.5)
    elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 0.8, elapsed
    assert where in message


def test_a_lock_held_past_the_deadline_is_agent_unavailable(serve, port):
    serve()
    fd = os.open(f"{port}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        started = time.monotonic()
        refused(port, "busy", timeout=0.3)
        assert time.monotonic() - started < 0.6
    finally:
        os.close(fd)


def endless(_request: dict) -> Pieces:
    while True:
        yield b"x" * 65536


def test_an_endless_reply_line_is_bounded(serve, port):
    serve(endless)
    message = refused(port, f"over {agent_channel.AGENT_REPLY_MAX} bytes", timeout=30)
    assert "xxx" not in message


def test_endless_junk_instead_of_the_sync_answer_is_bounded(serve, port, monkeypatch):
    monkeypatch.setattr(agent_channel, "SYNC_DISCARD_MAX", 1 << 20)
    serve(on_sync=lambda _token: endless({}))
    refused(port, "bytes before the agent's sync answer", timeout=30)


def test_sync_answers_of_other_ids_forever_are_bounded(serve, port, monkeypatch):
    monkeypatch.setattr(agent_channel, "SYNC_DISCARD_MAX", 1 << 16)

    def wrong_ids(token: int) -> Pieces:
        while True:
            yield b"\xff" + line({"return": token + 1}) * 100

    serve(on_sync=wrong_ids)
    refused(port, "bytes before the agent's sync answer", timeout=30)


def test_a_reply_that_is_not_utf8_is_agent_unavailable(serve, port):
    serve(lambda _request: [b'{"return": {"pid": 7, "x": "\xc3\x28 owned"}}\n'])
    assert "owned" not in refused(port, "not UTF-8")


def test_an_error_reply_is_agent_unavailable_naming_only_a_known_class(serve, port):
    serve(lambda _request: [line({"error": {"class": "CommandNotFound", "desc": "\x1b]0;owned\x07"}})])
    message = refused(port, r"answered with an error \(CommandNotFound\)")
    assert "owned" not in message and "\x1b" not in message


def test_an_error_reply_of_an_unknown_class_names_no_class(serve, port):
    serve(lambda _request: [line({"error": {"class": "\x1b[2Jowned", "desc": "x"}})])
    message = refused(port, "answered with an error")
    assert "owned" not in message and "\x1b" not in message and "(" not in message.split("error")[-1]


@pytest.mark.parametrize("when", ["before the sync answer", "before the reply", "mid-reply"])
def test_a_closed_connection_is_agent_unavailable(serve, port, when):
    def hang_up(*_args) -> Pieces:
        if when == "mid-reply":
            yield b'{"return": {"pi'
        raise OSError("hang up")  # the fake closes the connection

    if when == "before the sync answer":
        serve(on_sync=hang_up)
    else:
        serve(hang_up)
    refused(port, "closed before the (sync answer|reply)")


def test_no_socket_is_agent_unavailable(port):
    refused(port, "socket is missing", timeout=1)


def test_a_socket_nobody_listens_on_is_agent_unavailable(port):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(port))  # bound, never listening: as after qemu died
        refused(port, "refused", timeout=1)


# --- through the Hypervisor ----------------------------------------------------------------

def domain_xml(*serials: str) -> str:
    return ("<domain type='kvm'><name>vhn-x-dns</name><devices>"
            "<console type='pty'><target type='serial' port='0'/></console>"
            + "".join(serials) + "</devices></domain>")


AGENT_SERIAL = ("<serial type='unix'><source mode='bind' path='{path}'/>"
                "<target type='isa-serial' port='1'><model name='isa-serial'/></target><alias name='serial1'/></serial>")
CONSOLE_SERIAL = "<serial type='pty'><source path='/dev/pts/3'/><target type='isa-serial' port='0'/></serial>"


class _Domain:
    def __init__(self, xml: str):
        self.xml = xml

    def XMLDesc(self, _flags: int = 0) -> str:
        return self.xml


class _Connection:
    def __init__(self, xml: str):
        self.xml = xml

    def lookupByName(self, _name: str) -> _Domain:
        return _Domain(self.xml)


def test_the_hypervisor_asks_the_agent_on_the_port_its_domain_xml_names(serve, port):
    agent = serve()
    hv = Hypervisor("test:///agent")
    hv._conn = _Connection(domain_xml(CONSOLE_SERIAL, AGENT_SERIAL.format(path=port)))  # type: ignore[assignment]
    assert hv.agent("vhn-x-dns", "guest-ping", timeout=5) == Pong()
    assert hv.agent_ready("vhn-x-dns")
    assert [r["execute"] for r in agent.requests] == ["guest-sync-delimited", "guest-ping"] * 2


# --- the agent port in a domain's XML --------------------------------------------------------

def test_the_agent_port_is_the_unix_serial_port_1():
    xml = domain_xml(CONSOLE_SERIAL, AGENT_SERIAL.format(path="/run/vhn/x/dns.agent.sock"))
    assert agent_port("vhn-x-dns", xml) == Path("/run/vhn/x/dns.agent.sock")


NO_AGENT_PORT = {
    "no serial port": domain_xml(),
    "console only": domain_xml(CONSOLE_SERIAL),
    "unix socket on port 0": domain_xml(AGENT_SERIAL.format(path="/s").replace("port='1'", "port='0'")),
    "port 1 not a unix socket": domain_xml("<serial type='pty'><target type='isa-serial' port='1'/></serial>"),
    "no path": domain_xml(AGENT_SERIAL.replace(" path='{path}'", "")),
    "not XML": "<domain><devices>",
}


@pytest.mark.parametrize("xml", NO_AGENT_PORT.values(), ids=NO_AGENT_PORT.keys())
def test_a_domain_without_an_agent_port_is_agent_unavailable(xml):
    with pytest.raises(AgentUnavailable):
        agent_port("vhn-x-dns", xml)


def test_no_agent_port_says_so():
    with pytest.raises(AgentUnavailable, match="has no agent port"):
        agent_port("vhn-x-dns", domain_xml(CONSOLE_SERIAL))
