"""The collector's PostgreSQL connection string never appears in clear: its password is cut out
of every message, whether the DSN is a URL (`postgresql://user:pw@host/db`, `?password=pw`) or
libpq keywords (`host=h password=pw`, `password = 'p w'`), and wherever the DSN is quoted in
a driver's error text."""

from __future__ import annotations

import re

MASK = "***"
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s?#]*:)[^@\s/?#]*@", re.IGNORECASE)
_KEYWORD_PASSWORD = re.compile(r"""(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s&'"]*)""", re.IGNORECASE)
_URL_USERINFO = re.compile(r"^[a-z][a-z0-9+.-]*://[^:/@\s?#]*:([^@\s/?#]*)@", re.IGNORECASE)
_KEYWORD_VALUE = re.compile(r"""\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&'"]+)""", re.IGNORECASE)
_SHORTEST_LITERAL = 4  # a shorter password is masked by pattern only, not wherever its letters appear


def redact(text: str, dsn: str | None = None) -> str:
    """`text` with every DSN password masked: by the patterns above, and (given the `dsn` the text
    was made from) wherever that password's literal value appears."""
    for secret in _passwords(dsn) if dsn else []:
        text = text.replace(secret, MASK)
    text = _URL_PASSWORD.sub(rf"\g<1>{MASK}@", text)
    return _KEYWORD_PASSWORD.sub(rf"\g<1>{MASK}", text)


def _passwords(dsn: str) -> list[str]:
    found = [m[1] for m in (_URL_USERINFO.match(dsn.strip()),) if m]
    found += [m.group(1).strip("'") for m in _KEYWORD_VALUE.finditer(dsn)]
    return [p for p in found if len(p) >= _SHORTEST_LITERAL]
