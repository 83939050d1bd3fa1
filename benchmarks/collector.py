"""Events per second the collector stores while hostile clients are connected, against none.

    sudo .venv/bin/python benchmarks/collector.py [--honeynets 4] [--events 5000] [--hostile 0,16,64]
                       [--repeat 3] [--old-ref main] [--output benchmarks/results/collector-<time>.json]

One private PostgreSQL server, one collector (the real server, default limits, in a thread of
this process). For each N in --hostile, N hostile clients (half idle TCP connections that never
send a TLS hello, half slowloris clients trickling a request head) press the collector while
--honeynets local stores of --events synthetic syslog events each are shipped by the real
shipper in parallel; events/s stored is compared with N = 0 of the same run (ratio of the
medians over --repeat interleaved rounds). With
--old-ref, the collector of that git revision (before the hostile-client work) gets the same
load with no hostile client and with one idle client, for comparison. Prints and writes JSON.
Needs root (the PostgreSQL server runs as user postgres).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration import postgres  # noqa: E402
from vhoneynet.capture.store import CaptureStore  # noqa: E402
from vhoneynet.collect.database import CollectorDatabase  # noqa: E402
from vhoneynet.collect.server import background, ensure_certificate  # noqa: E402
from vhoneynet.collect.shipper import ship  # noqa: E402
from vhoneynet.errors import CollectorUnavailable  # noqa: E402
from vhoneynet.rundir import SHARE  # noqa: E402
from vhoneynet.topology.model import Collect  # noqa: E402

DAY = "2026-11-29"


def make_store(work: Path, hid: str, events: int) -> Path:
    root = work / hid
    (root / SHARE / DAY / "syslog").mkdir(parents=True)
    with (root / SHARE / DAY / "syslog" / "web.log").open("w") as f:
        for i in range(events):
            f.write(f"2026-11-29T02:{i // 60 % 60:02d}:{i % 60:02d}.{i % 10**6:06d}+00:00 203.0.113.80 web "
                    f"sshd[{1000 + i % 500}]: Failed password for root from 198.51.100.{i % 250} port {1024 + i} ssh2\n")
    with CaptureStore(root, hid, {"203.0.113.80": "web"}) as store:
        store.ingest()
    return root


def hostile_client(port: int, kind: str, stop: threading.Event) -> None:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
                if kind == "idle":
                    raw.settimeout(1)
                    while not stop.is_set():
                        try:
                            if raw.recv(1) == b"":
                                break
                        except TimeoutError:
                            continue
                else:
                    raw.settimeout(5)
                    with context.wrap_socket(raw, server_hostname="localhost") as sock:
                        for byte in b"POST /v1/events HTTP/1.1\r\nHost: collector\r\nContent-Length: 10\r\n":
                            if stop.is_set():
                                break
                            sock.sendall(bytes([byte]))
                            time.sleep(0.5)
        except OSError:
            time.sleep(0.1)


@contextmanager
def hostile(port: int, count: int):
    stop = threading.Event()
    threads = [threading.Thread(target=hostile_client, args=(port, "idle" if i % 2 == 0 else "slow", stop), daemon=True)
               for i in range(count)]
    for t in threads:
        t.start()
    time.sleep(0.5 if count else 0)
    try:
        yield
    finally:
        stop.set()
        for t in threads:
            t.join(10)


def ship_all(roots: dict[str, Path], collects: dict[str, Collect], deadline: float) -> tuple[int, float]:
    """Ship every store in parallel; (events delivered, seconds). A shipper that cannot deliver
    keeps retrying until `deadline` seconds have passed."""
    delivered = [0] * len(roots)

    def one(i: int, hid: str) -> None:
        with CaptureStore(roots[hid], hid) as store:
            while time.monotonic() < end:
                try:
                    delivered[i] += ship(store, collects[hid], timeout=max(1.0, min(10.0, end - time.monotonic())))
                    return
                except CollectorUnavailable:
                    time.sleep(0.2)

    started = time.monotonic()
    end = started + deadline
    threads = [threading.Thread(target=one, args=(i, hid)) for i, hid in enumerate(roots)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(delivered), time.monotonic() - started


def fresh_stores(work: Path, tag: str, honeynets: int, events: int) -> dict[str, Path]:
    return {f"b{tag}{i}": make_store(work / tag, f"b{tag}{i}", events) for i in range(honeynets)}


def register(dsn: str, hids, url: str, cert: Path) -> dict[str, Collect]:
    db = CollectorDatabase(dsn)
    try:
        return {hid: Collect(url=url, token=db.add_honeynet(hid), ca=cert) for hid in hids}
    finally:
        db.close()


def stored(dsn: str, hids) -> int:
    db = CollectorDatabase(dsn)
    try:
        return sum(sum(db.counts(h).values()) for h in hids)
    finally:
        db.close()


@contextmanager
def old_collector(ref: str, dsn: str, state: Path):
    """The collector server of git revision `ref` (http.server), in a thread; yields its port."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:vhoneynet/collect/server.py"],
                            capture_output=True, text=True, check=True).stdout
    path = state / "old_server.py"
    state.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_collector_server", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cert, key = ensure_certificate(state, "localhost")
    server = module.CollectorServer(("127.0.0.1", 0), dsn, cert, key)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], cert
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--honeynets", type=int, default=4)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--hostile", default="0,16,64")
    parser.add_argument("--repeat", type=int, default=3, help="rounds over --hostile; the summary takes medians")
    parser.add_argument("--old-ref", default=None, help="also measure this revision's collector (e.g. main)")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    counts = [int(n) for n in args.hostile.split(",")]
    result: dict = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "host_cores": os.cpu_count(),
                    "load_average": os.getloadavg(), "honeynets": args.honeynets, "events_per_honeynet": args.events,
                    "hostile_mix": "half idle TCP (no TLS hello), half slowloris", "runs": []}
    with postgres.cluster() as dsn, tempfile.TemporaryDirectory(prefix="vhnbench") as tmp:
        work = Path(tmp)
        with background(dsn, work / "collector") as server:
            url = f"https://127.0.0.1:{server.port}"
            for round_ in range(args.repeat):  # interleaved, so a change in the host's load hits every N alike
                for n in counts:
                    roots = fresh_stores(work, f"r{round_}n{n}", args.honeynets, args.events)
                    collects = register(dsn, roots, url, server.cert)
                    with hostile(server.port, n):
                        sent, seconds = ship_all(roots, collects, deadline=300)
                    result["runs"].append({"server": "this tree", "round": round_, "hostile": n, "delivered": sent,
                                           "stored": stored(dsn, roots), "seconds": round(seconds, 2),
                                           "events_per_second": round(sent / seconds)})
                    print(json.dumps(result["runs"][-1]), flush=True)
        if args.old_ref:
            with old_collector(args.old_ref, dsn, work / "old") as (port, cert):
                for n in (0, 1):
                    roots = fresh_stores(work, f"old{n}", args.honeynets, args.events)
                    collects = register(dsn, roots, f"https://127.0.0.1:{port}", cert)
                    with ExitStack() as stack:
                        if n:
                            stack.enter_context(hostile(port, 1))  # one idle client
                        sent, seconds = ship_all(roots, collects, deadline=30)
                    result["runs"].append({"server": args.old_ref, "hostile": n, "delivered": sent,
                                           "stored": stored(dsn, roots), "seconds": round(seconds, 2),
                                           "events_per_second": round(sent / seconds)})
                    print(json.dumps(result["runs"][-1]), flush=True)
    result["summary"] = []
    for server in dict.fromkeys(r["server"] for r in result["runs"]):
        medians = {n: statistics.median(r["events_per_second"] for r in result["runs"]
                                        if r["server"] == server and r["hostile"] == n)
                   for n in dict.fromkeys(r["hostile"] for r in result["runs"] if r["server"] == server)}
        result["summary"] += [{"server": server, "hostile": n, "median_events_per_second": round(eps),
                               "ratio_to_none": round(eps / medians[0], 3)} for n, eps in medians.items()]
    output = args.output or ROOT / "benchmarks" / "results" / f"collector-{datetime.now(UTC):%Y%m%dT%H%M}.json"
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
