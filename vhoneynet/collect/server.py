"""`vhoneynet collector serve`: HTTPS endpoint that authenticates honeynets and stores their events.

POST /v1/events with `Authorization: Bearer <token>` and `X-Vhn-Honeynet: <id>`, body
`{"events": [...]}` in the honeynet's order. Wrong or missing credentials get 401 and a row
in vhn_refused (plus a line on stderr). A self-signed certificate is made at first start.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from vhoneynet.backend.process import run
from vhoneynet.collect.database import CollectorDatabase

MAX_BODY = 64 << 20
log = logging.getLogger("vhoneynet.collector")


def ensure_certificate(state: Path, hostname: str) -> tuple[Path, Path]:
    """cert.pem and key.pem under `state`, self-signed for `hostname`, made once."""
    cert, key = state / "cert.pem", state / "key.pem"
    if not (cert.exists() and key.exists()):
        state.mkdir(parents=True, exist_ok=True)
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
             "-subj", f"/CN={hostname}", "-addext", f"subjectAltName=DNS:{hostname},IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)])
        key.chmod(0o600)
    return cert, key


class CollectorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], dsn: str, cert: Path, key: Path):
        super().__init__(address, _Handler)
        self.dsn = dsn
        self.local = threading.local()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        db = CollectorDatabase(dsn)
        db.create_schema()
        db.close()

    def database(self) -> CollectorDatabase:
        if getattr(self.local, "db", None) is None:
            self.local.db = CollectorDatabase(self.dsn)
        return self.local.db


class _Handler(BaseHTTPRequestHandler):
    server: CollectorServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path != "/v1/events":
            return self._reply(404, {"error": "not found"})
        hid = self.headers.get("X-Vhn-Honeynet")
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
        db = self.server.database()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self._reply(413, {"error": "batch too large"})
        body = self.rfile.read(length)
        if not hid or not token or not db.authorized(hid, token):
            reason = "no credentials" if not token else "wrong credentials"
            db.refuse(self.client_address[0], hid, reason)
            log.warning("refused %s from %s: %s", hid, self.client_address[0], reason)
            return self._reply(401, {"error": reason})
        try:
            events = json.loads(body)["events"]
        except (ValueError, KeyError, TypeError):
            return self._reply(400, {"error": "body must be {\"events\": [...]}"})
        stored = db.insert(hid, events)
        return self._reply(200, {"received": len(events), "stored": stored,
                                 "last_seq": events[-1]["seq"] if events else None})

    def _reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug(format, *args)


def serve(dsn: str, host: str, port: int, state: Path, ready=None) -> None:
    """Run the collector until interrupted; `ready(server)` is called once it listens."""
    cert, key = ensure_certificate(state, host if not host[0].isdigit() else "localhost")
    server = CollectorServer((host, port), dsn, cert, key)
    if ready:
        ready(server)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
