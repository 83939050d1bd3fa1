"""Data collection: one central collector (PostgreSQL behind HTTPS) for many honeynets, and the shipper."""
