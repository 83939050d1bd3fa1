"""Events per second the collector ingests: a honeynet's local store with N synthetic syslog
events is shipped through the real HTTPS collector into a private PostgreSQL server.

    .venv/bin/python benchmarks/collector.py [--events 20000] [--batch 500]

Prints one JSON line: events, batch size, seconds, events per second (ingest into the local
store is measured separately). Needs root (the PostgreSQL server runs as user postgres).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration import postgres  # noqa: E402
from vhoneynet.capture.store import CaptureStore  # noqa: E402
from vhoneynet.collect.server import CollectorServer, ensure_certificate  # noqa: E402
from vhoneynet.collect.database import CollectorDatabase  # noqa: E402
from vhoneynet.collect.shipper import ship  # noqa: E402
from vhoneynet.topology.model import Collect  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with postgres.cluster() as dsn, tempfile.TemporaryDirectory(prefix="vhnbench") as work:
        work = Path(work)
        cert, key = ensure_certificate(work / "collector", "localhost")
        server = CollectorServer(("127.0.0.1", 0), dsn, cert, key)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        db = CollectorDatabase(dsn)
        token = db.add_honeynet("vbench")
        root = work / "vbench"
        (root / "2026-11-29" / "syslog").mkdir(parents=True)
        with (root / "2026-11-29" / "syslog" / "web.log").open("w") as f:
            for i in range(args.events):
                f.write(f"2026-11-29T02:{i // 60 % 60:02d}:{i % 60:02d}.{i % 10**6:06d}+00:00 203.0.113.80 web "
                        f"sshd[{1000 + i % 500}]: Failed password for root from 198.51.100.{i % 250} port {1024 + i} ssh2\n")
        with CaptureStore(root, "vbench", {"203.0.113.80": "web"}) as store:
            t0 = time.perf_counter()
            store.ingest()
            ingest = time.perf_counter() - t0
            collect = Collect(url=f"https://127.0.0.1:{server.server_address[1]}", token=token, ca=cert)
            t0 = time.perf_counter()
            sent = ship(store, collect, batch=args.batch)
            seconds = time.perf_counter() - t0
        stored = sum(db.counts("vbench").values())
        server.shutdown()
        db.close()
    print(json.dumps({"events": sent, "stored": stored, "batch": args.batch, "seconds": round(seconds, 2),
                      "events_per_second": round(sent / seconds), "local_ingest_per_second": round(args.events / ingest)}))


if __name__ == "__main__":
    main()
