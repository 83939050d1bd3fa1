"""Data capture on the host: parsing the gateway's logs, the local event store, export, retention."""
