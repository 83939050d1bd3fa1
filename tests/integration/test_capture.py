"""Data capture end to end on the shared honeynet: inbound and outbound traffic, an alerting
payload, a syslog line and shell commands run over ssh all end up in the local event store
(and in PostgreSQL through the collector), tagged with the honeynet id and the honeypot."""

from __future__ import annotations

import datetime
import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import needs_browser, open_page
from tests.integration import postgres
from tests.integration.conftest import Honeynet, in_netns, ssh_login, type_over_ssh, vhn
from vhoneynet.rundir import RunDir
from vhoneynet.topology.model import DEFAULT_STORAGE

pytestmark = [pytest.mark.root, pytest.mark.libvirt, pytest.mark.slow, pytest.mark.xdist_group("honeynet")]
WEB, DNS, ATTACKER = "203.0.113.80", "203.0.113.53", "203.0.113.66"
LISTEN_PORT = 8099


def events(honeynet: Honeynet, *args: str) -> list[dict]:
    out = vhn("events", honeynet.hid, "--json", *args).stdout.decode()
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def wait_for(honeynet: Honeynet, check, what: str, timeout: float = 180) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in events(honeynet) if check(e)]
        if found or time.monotonic() > deadline:
            assert found, f"no {what} event after {timeout} s"
            return found
        time.sleep(3)


@pytest.fixture(scope="module")
def traffic(honeynet: Honeynet, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Generate one of each captured layer once; the tests below look for them."""
    marker = f"vhn{time.time_ns() % 10**9}"
    # inbound: the attacker fetches the web page
    r = in_netns(honeynet.netns("attacker"), "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                 f"http://{WEB}/?visit={marker}")
    assert r.stdout == "200", r
    # outbound with an alerting payload: the web honeypot sends the IPS's test exploit marker out
    listener = subprocess.Popen(["ip", "netns", "exec", honeynet.netns("attacker"), "timeout", "20", "nc", "-l", "-p",
                                 str(LISTEN_PORT)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        honeynet.sh("web", f"printf 'hello\\nVHN-EXPLOIT-TEST {marker}\\n' | timeout 10 nc -q 2 {ATTACKER} {LISTEN_PORT}", timeout=30)
    finally:
        listener.kill()
        listener.wait()
    # a syslog line
    assert honeynet.exec("web", "logger", "-t", "vhn-test", f"syslog {marker}").returncode == 0
    # the attacker resolves a name through the dns honeypot
    r = in_netns(honeynet.netns("attacker"), "dig", "+short", "+time=5", f"@{DNS}", "web.corp.example")
    assert r.stdout.strip() == WEB, r
    # a shell session over ssh (key login as root; the key is put there for the test), typed line by
    # line as a person would: a program, shell builtins, and a line typed into a program (cat)
    keydir = tmp_path_factory.mktemp("ssh")
    login = ssh_login(honeynet, "web", WEB, keydir)
    typed = [f"ls -d / /tmp/typed-{marker}; echo done-{marker}\n", "cd /tmp\n", "cat > /dev/null\n",
             f"into-cat-{marker}\n", "\x04", "exit\n"]
    out = type_over_ssh(login, typed)
    assert f"done-{marker}".encode() in out, out
    return {"marker": marker, "login": login, "keydir": keydir}


def test_syslog_of_the_honeypot_is_captured(honeynet: Honeynet, traffic: dict):
    found = wait_for(honeynet, lambda e: e["type"] == "syslog" and f"syslog {traffic['marker']}" in e["summary"], "syslog")
    assert found[0]["honeypot"] == "web"
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    assert f"syslog {traffic['marker']}" in (honeynet.capture / honeynet.hid / "gateway" / day / "syslog" / "web.log").read_text()


def test_commands_run_over_ssh_are_captured(honeynet: Honeynet, traffic: dict):
    found = wait_for(honeynet, lambda e: e["type"] == "command" and f"/tmp/typed-{traffic['marker']}" in e["data"]["argv"],
                     "command")
    assert found[0]["honeypot"] == "web" and found[0]["data"]["argv"][:2] == ["ls", "-d"]


def test_firewall_log_has_inbound_and_outbound_with_verdicts(honeynet: Honeynet, traffic: dict):
    fw = wait_for(honeynet, lambda e: e["type"] == "firewall" and e["dst"] == ATTACKER and e["dport"] == LISTEN_PORT,
                  "outbound firewall")
    # allowed, or limited when other tests of the session used up web's outbound allowance
    assert fw[0]["data"]["verdict"] in ("allowed", "limited") and fw[0]["honeypot"] == "web"
    inbound = [e for e in events(honeynet, "--type", "firewall") if e["src"] == ATTACKER and e["dst"] == WEB]
    assert inbound and inbound[0]["data"]["verdict"] == "inbound"
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    unique = (honeynet.capture / honeynet.hid / "derived" / day / "firewall-unique.log").read_text().splitlines()
    assert any(line.split()[3:] == [WEB, ATTACKER, "tcp", str(LISTEN_PORT)] for line in unique), unique
    assert len(unique) == len(set(tuple(line.split()[3:]) for line in unique))


def test_keystrokes_typed_over_ssh_are_captured(honeynet: Honeynet, traffic: dict):
    marker = traffic["marker"]
    # what the login shell read: builtins included (the record comes when the shell exits)
    shell = wait_for(honeynet, lambda e: e["type"] == "keystrokes" and f"echo done-{marker}" in e["data"]["typed"],
                     "shell keystrokes")
    assert shell[0]["honeypot"] == "web" and shell[0]["data"]["comm"] == "bash"
    assert "cd /tmp" in shell[0]["data"]["typed"] and "exit" in shell[0]["data"]["typed"]
    # what a program read from the terminal, line by line
    program = wait_for(honeynet, lambda e: e["type"] == "keystrokes" and f"into-cat-{marker}" in e["data"]["typed"],
                       "keystrokes typed into cat")
    assert program[0]["data"]["comm"] == "cat" and program[0]["data"]["auid"] == "0"


def test_ids_alert_with_payload_and_fast_line(honeynet: Honeynet, traffic: dict):
    alert = wait_for(honeynet, lambda e: e["type"] == "alert" and e["dst"] == ATTACKER and e["dport"] == LISTEN_PORT,
                     "IDS alert")
    assert alert[0]["honeypot"] == "web" and "VHN test exploit marker" in alert[0]["summary"]
    assert f"VHN-EXPLOIT-TEST {traffic['marker']}" in alert[0]["data"]["payload_text"]
    wait_for(honeynet, lambda e: e["type"] == "fast" and e["dst"] == ATTACKER and e["dport"] == LISTEN_PORT, "fast.log alert")


def test_ids_records_of_http_dns_and_flows(honeynet: Honeynet, traffic: dict):
    # the inbound IDS sees only the request, so its http record comes when the flow ends: for a
    # connection closed with FIN, after the TCP established timeout (300 s)
    http = wait_for(honeynet, lambda e: e["type"] == "http" and traffic["marker"] in e["data"]["http"].get("url", ""),
                    "http", timeout=420)
    assert http[0]["honeypot"] == "web" and http[0]["data"]["http"]["http_method"] == "GET"
    assert (http[0]["src"], http[0]["dst"], http[0]["dport"]) == (ATTACKER, WEB, 80)
    assert http[0]["data"]["http"]["http_user_agent"].startswith("curl/")
    dns = wait_for(honeynet, lambda e: e["type"] == "dns" and "web.corp.example" in e["summary"], "dns")
    assert {e["honeypot"] for e in dns} == {"dns"}
    assert any(e["data"]["dns"]["type"] == "query" and e["src"] == ATTACKER for e in dns)
    # a flow record comes when the flow times out (udp: 30 s after the last packet)
    flow = wait_for(honeynet, lambda e: e["type"] == "flow" and e["dst"] in (WEB, DNS) and e["src"] == ATTACKER, "flow")
    assert flow[0]["honeypot"] in ("web", "dns") and flow[0]["data"]["flow"]["pkts_toserver"] >= 1


def test_events_filters_and_export(honeynet: Honeynet, traffic: dict, tmp_path: Path):
    wait_for(honeynet, lambda e: e["type"] == "syslog" and traffic["marker"] in e["summary"], "syslog")
    assert {e["honeypot"] for e in events(honeynet, "--honeypot", "web")} == {"web"}
    assert {e["type"] for e in events(honeynet, "--type", "syslog,command", "--since", "1h")} <= {"syslog", "command"}
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    out = tmp_path / "export.tar.gz"
    result = json.loads(vhn("export", honeynet.hid, "--day", day, "-o", str(out), "--json").stdout)
    listing = subprocess.run(["tar", "-tzf", str(out)], capture_output=True, text=True, check=True).stdout.split()
    assert result["files"] > 3
    for part in ("/pcap/", "/firewall/firewall.log", "/syslog/web.log", "/consoles/gateway.log", "/SHA256SUMS"):
        assert any(part in name for name in listing), part
    subprocess.run(["tar", "-xzf", str(out), "-C", str(tmp_path)], check=True)
    check = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=tmp_path / f"{honeynet.hid}-{day}")
    assert check.returncode == 0


@pytest.mark.skipif(not postgres.available(), reason="needs PostgreSQL")
def test_events_reach_postgresql_tagged_with_the_id(honeynet: Honeynet, traffic: dict, tmp_path: Path):
    import psycopg

    from tests.integration.test_collector import Collector

    wait_for(honeynet, lambda e: e["type"] == "command", "command")
    with postgres.cluster() as dsn:
        collector = Collector(dsn, tmp_path / "collector")
        collector.start()
        try:
            topo = json.loads(honeynet.topology.read_text())
            topo["collect"] = {"url": collector.url, "token": collector.token(honeynet.hid),
                               "ca": str(tmp_path / "collector" / "cert.pem")}
            shipping = tmp_path / "topology.json"
            shipping.write_text(json.dumps(topo))
            local = {}
            for e in events(honeynet, "--topology", str(shipping)):
                local[e["type"]] = local.get(e["type"], 0) + 1
        finally:
            collector.stop()
        with psycopg.connect(dsn) as conn:
            remote = dict(conn.execute("SELECT type, COUNT(*) FROM vhn_events WHERE honeynet = %s GROUP BY type",
                                       (honeynet.hid,)).fetchall())
            others = conn.execute("SELECT COUNT(*) FROM vhn_events WHERE honeynet <> %s", (honeynet.hid,)).fetchone()[0]
    assert {"syslog", "command", "firewall"} <= set(remote)
    assert remote == local and others == 0


def test_capture_follower_keeps_the_store_current(honeynet: Honeynet, traffic: dict):
    from vhoneynet.capture import follower
    from vhoneynet.capture.store import CaptureStore

    pid = int(RunDir(DEFAULT_STORAGE, honeynet.hid).pid_file(follower.FOLLOWER).read_text())
    assert b"--follow" in Path(f"/proc/{pid}/cmdline").read_bytes()
    marker = f"follower-{time.time_ns()}"
    assert honeynet.exec("web", "logger", "-t", "vhn-test", marker).returncode == 0
    with CaptureStore(honeynet.capture / honeynet.hid, honeynet.hid) as store:  # read only: no ingest here
        for _ in range(60):
            if any(marker in e["summary"] for e in store.query(types=["syslog"])):
                break
            time.sleep(2)
        else:
            raise AssertionError("the follower did not ingest the syslog line within 120 s")


@pytest.mark.browser
@needs_browser
def test_report_of_the_honeynet_plays_its_ssh_session_in_chromium(honeynet: Honeynet, traffic: dict, browser,
                                                                   tmp_path: Path):
    """`report` of this honeynet, in a real browser: no script error, no request out, plots drawn,
    and the captured ssh session plays back to the command that was typed."""
    marker = traffic["marker"]
    wait_for(honeynet, lambda e: e["type"] == "keystrokes" and f"into-cat-{marker}" in e["data"]["typed"], "keystrokes")
    page_file, casts = tmp_path / "report.html", tmp_path / "casts"
    result = json.loads(vhn("report", honeynet.hid, "-o", str(page_file), "--cast-dir", str(casts), "--json").stdout)
    assert result["sessions"] >= 1 and result["casts"], result

    page, problems, requests = open_page(browser, page_file)
    for plot in ("#timeline-plot", "#outbound-plot"):
        box = page.locator(f"{plot} canvas").first.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100, plot
    sessions = page.evaluate("JSON.parse(document.getElementById('report-data').textContent).sessions")
    typed = f"/tmp/typed-{marker}"
    index = next(i for i, s in enumerate(sessions)
                 if s["honeypot"] == "web" and any(typed in text for _, text in s["frames"]))
    player = page.locator(f".player[data-session=\"{index}\"]")
    player.locator(".speed").select_option("20")
    player.locator(".play").click()
    deadline = time.monotonic() + 120
    while player.get_attribute("data-state") != "ended" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert typed in player.locator(".term").evaluate("el => el.textContent")
    assert not problems and not requests, (problems, requests)
    assert any(typed in Path(cast).read_text() for cast in result["casts"])


def pcap_sizes(honeynet: Honeynet) -> dict[Path, int]:
    return {p: p.stat().st_size for p in (honeynet.capture / honeynet.hid / "gateway").glob("*/pcap/*.pcap*")}


def test_captures_survive_a_honeypot_reset_and_new_ones_arrive(honeynet: Honeynet, traffic: dict):
    """Last in this module: it resets the web honeypot (its services answer again afterwards)."""
    marker = traffic["marker"]
    wait_for(honeynet, lambda e: e["type"] == "keystrokes" and f"into-cat-{marker}" in e["data"]["typed"], "keystrokes")
    before = {e["key"]: e for e in events(honeynet) if e["honeypot"] == "web"}
    kinds = {e["type"] for e in before.values()}
    assert {"syslog", "command", "keystrokes", "firewall", "alert"} <= kinds, kinds
    pcaps = pcap_sizes(honeynet)
    syslog_before = b"".join(p.read_bytes() for p in (honeynet.capture / honeynet.hid / "gateway").glob("*/syslog/web.log"))

    # an intruder still logged in when the reset comes: what he typed at the prompt is kept too
    still_in = f"still-logged-in-{marker}"
    ssh = subprocess.Popen(traffic["login"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(15)  # the login, under TCG
        ssh.stdin.write(f"echo {still_in} > /dev/null\n".encode())
        ssh.stdin.flush()
        time.sleep(3)
        resetting = vhn("reset", honeynet.hid, "web", "--json", timeout=900)
        reset = json.loads(resetting.stdout)
    finally:
        ssh.kill()
        ssh.wait()
    # restored from its warm state (saved by `up`), not booted: ready in seconds, its clock right
    assert reset["guests"]["web"]["how"] == "restore", reset
    assert reset["guests"]["web"]["until_ready"] < 60, reset
    guest_clock = int(honeynet.exec("web", "date", "+%s").stdout)
    assert abs(guest_clock - time.time()) < 5, resetting.stderr.decode()  # not on from the second of its save
    wait_for(honeynet, lambda e: e["type"] == "keystrokes" and still_in in e["data"]["typed"],
             "keystrokes of the session open during the reset", timeout=120)

    after = {e["key"]: e for e in events(honeynet)}
    assert before.keys() <= after.keys()  # every record from before is still in the store
    assert all(pcaps[p] <= size for p, size in pcap_sizes(honeynet).items() if p in pcaps)
    assert pcaps.keys() <= pcap_sizes(honeynet).keys()
    syslog_after = b"".join(p.read_bytes() for p in (honeynet.capture / honeynet.hid / "gateway").glob("*/syslog/web.log"))
    assert syslog_after.startswith(syslog_before)
    # the reset honeypot is captured again: its syslog, and traffic to it in the IDS log and the pcap
    again = f"after-reset-{time.time_ns()}"
    assert honeynet.exec("web", "logger", "-t", "vhn-test", again).returncode == 0
    port = 40000 + time.time_ns() % 20000
    r = in_netns(honeynet.netns("attacker"), "curl", "-s", "--local-port", str(port), "-o", "/dev/null", "-w",
                 "%{http_code}", f"http://{WEB}/?{again}")
    assert r.stdout == "200", r
    wait_for(honeynet, lambda e: e["type"] == "syslog" and again in e["summary"], "syslog after reset")
    wait_for(honeynet, lambda e: e["type"] == "firewall" and e["sport"] == port and e["dst"] == WEB, "firewall after reset")
    assert sum(pcap_sizes(honeynet).values()) > sum(pcaps.values())
    # keystrokes typed in the restored guest's new life are captured (its audit channel reconnected);
    # the login key went with the old life's disk, so it is put there again
    ssh_login(honeynet, "web", WEB, traffic["keydir"])
    typed_after = f"typed-after-restore-{marker}"
    type_over_ssh(traffic["login"], [f"ls -d / /tmp/{typed_after}\n", "exit\n"])
    wait_for(honeynet, lambda e: e["type"] == "keystrokes" and typed_after in e["data"]["typed"],
             "keystrokes typed after the restore", timeout=120)
    wait_for(honeynet, lambda e: e["type"] == "command" and f"/tmp/{typed_after}" in e["data"]["argv"],
             "the command run after the restore", timeout=120)
