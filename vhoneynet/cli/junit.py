"""`verify --junit FILE`: the verdicts of a verify run as JUnit XML, the format CI dashboards read.
One test case per data-control layer and per honeypot looked at for stealth; a failed verdict is a
<failure>, a skipped one <skipped>."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """One checked property: its group (`data-control`, `stealth`), name, verdict and what was seen."""

    group: str
    name: str
    verdict: str  # pass | fail | skipped
    detail: str = ""


def document(hid: str, cases: Iterable[Case]) -> bytes:
    """The JUnit XML of one verify run of honeynet `hid` (UTF-8, with its declaration)."""
    cases = list(cases)
    failures = sum(c.verdict == "fail" for c in cases)
    skipped = sum(c.verdict == "skipped" for c in cases)
    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": "0", "skipped": str(skipped)}
    suites = ET.Element("testsuites", name="vhoneynet verify", **counts)
    suite = ET.SubElement(suites, "testsuite", name=f"verify {hid}", **counts)
    for c in cases:
        case = ET.SubElement(suite, "testcase", classname=f"{hid}.{c.group}", name=c.name)
        if c.verdict == "fail":
            ET.SubElement(case, "failure", message=c.detail or "failed").text = c.detail
        elif c.verdict == "skipped":
            ET.SubElement(case, "skipped", message=c.detail or "skipped")
        elif c.detail:
            ET.SubElement(case, "system-out").text = c.detail
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"
