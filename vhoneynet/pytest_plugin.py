"""The pytest plugin (entry point `pytest11`): a running honeynet as a fixture, for CI tests.

- The topology: `@pytest.mark.vhn_topology("file.yml")` (relative to the test's file) or else
  `--vhn-topology FILE` (relative to where pytest runs). The marker wins.
- `honeynet`: a vhoneynet.Honeynet of that topology, session-scoped: brought up when a test first
  asks for it, shared by every test of the same topology, brought down at the end of the run.
- `--vhn-reuse`: leave it up at the end; the next run attaches to it while the topology file is
  unchanged (its id is kept in pytest's cache, by the file's content hash).
- `@pytest.mark.vhn_reset` (with Honeynet.reset's arguments: guests, to) or the `fresh_honeynet`
  fixture: the honeypots are reset before the test.

Importing this module is cheap (no libvirt): pytest loads it in every run of an environment
where vhoneynet is installed. Under pytest-xdist every worker brings up its own honeynet unless
the tests that use it share an `xdist_group` (with `--dist loadgroup`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import vhoneynet
from vhoneynet.errors import HoneynetNotFound, VhoneynetError

CACHE_KEY = "vhoneynet/honeynets"  # {content hash: {"id", "uri", "storage", "topology"}}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vhoneynet", "virtual honeynets (vhoneynet)")
    group.addoption("--vhn-topology", metavar="FILE", default=None,
                    help="topology of the `honeynet` fixture (a vhn_topology marker wins)")
    group.addoption("--vhn-reuse", action="store_true", default=False,
                    help="keep the honeynets up at the end, and attach to them in the next run "
                         "while their topology file is unchanged")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vhn_topology(file): the topology of this test's `honeynet` "
                                       "(relative to the test's file); wins over --vhn-topology")
    config.addinivalue_line("markers", "vhn_reset(guests=None, to=None): reset the honeypots "
                                       "(to pristine or to a checkpoint) before this test")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Give the session-scoped `honeynet` its topology per test: one instance per topology file,
    so a marker can choose another topology than the option for some tests."""
    if "honeynet" not in metafunc.fixturenames:
        return
    topology = topology_of(metafunc.definition, metafunc.config)
    if topology is not None:
        metafunc.parametrize("honeynet", [topology], indirect=True, scope="session", ids=[topology.name])


def topology_of(item: pytest.Item, config: pytest.Config) -> Path | None:
    """The topology file a test asks for: its vhn_topology marker, else --vhn-topology, else None."""
    marker = item.get_closest_marker("vhn_topology")
    if marker is not None:
        if len(marker.args) != 1 or marker.kwargs:
            pytest.fail(f"{item.nodeid}: vhn_topology takes one topology file, e.g. "
                        "@pytest.mark.vhn_topology('honeynet.yml')", pytrace=False)
        return (item.path.parent / marker.args[0]).resolve()
    option = config.getoption("vhn_topology")
    return (config.invocation_params.dir / option).resolve() if option else None


class Honeynets:
    """The honeynets of one test run, one per topology content; kept in pytest's cache while up,
    so a later run attaches to the one a run left (`--vhn-reuse`, or a run that was killed)."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.reuse: bool = config.getoption("vhn_reuse")
        self.running: dict[str, vhoneynet.Honeynet] = {}

    def get(self, topology: Path) -> vhoneynet.Honeynet:
        """The honeynet of this topology file: one this run has, else the one a run left, else a
        new one. Raises VhoneynetError (as Honeynet.up), pytest.UsageError for an unreadable file."""
        try:
            digest = hashlib.sha256(topology.read_bytes()).hexdigest()
        except OSError as e:
            raise pytest.UsageError(f"topology {topology}: {os.strerror(e.errno) if e.errno else e}") from None
        if digest not in self.running:
            hn = self._left(digest) or vhoneynet.Honeynet.up(topology)
            self._remember(digest, {"id": hn.hid, "uri": hn.uri, "storage": str(hn.storage), "topology": str(topology)})
            self.running[digest] = hn
        return self.running[digest]

    def _left(self, digest: str) -> vhoneynet.Honeynet | None:
        """The honeynet a previous run left for this topology, if it still runs whole; one that is
        there in part is removed, so `up` can start afresh."""
        kept = self._cache().get(digest)
        if not kept:
            return None
        try:
            hn = vhoneynet.Honeynet.attach(kept["id"], kept["uri"], kept["storage"])
        except HoneynetNotFound:
            self._remember(digest, None)
            return None
        if hn.status()["state"] == "running":
            return hn
        hn.down()
        self._remember(digest, None)
        return None

    def finish(self) -> None:
        """At the end of the run: down every honeynet (captures kept), unless `--vhn-reuse`.
        Every one is tried; the first error is raised after."""
        if self.reuse:
            return
        failed: BaseException | None = None
        for digest, hn in self.running.items():
            try:
                hn.down()
            except HoneynetNotFound:
                pass  # removed by a test or by hand: nothing left to do
            except (VhoneynetError, OSError) as e:
                failed = failed or e
                continue
            self._remember(digest, None)
        self.running.clear()
        if failed is not None:
            raise failed

    def _cache(self) -> dict:
        cache = getattr(self.config, "cache", None)  # None under -p no:cacheprovider
        return cache.get(CACHE_KEY, {}) if cache is not None else {}

    def _remember(self, digest: str, entry: dict | None) -> None:
        cache = getattr(self.config, "cache", None)
        if cache is None:
            return
        kept = {k: v for k, v in cache.get(CACHE_KEY, {}).items() if k != digest}
        cache.set(CACHE_KEY, kept | ({digest: entry} if entry else {}))


@pytest.fixture(scope="session")
def vhn_honeynets(request: pytest.FixtureRequest):
    """The run's honeynets (see Honeynets); brought down at the end unless --vhn-reuse."""
    honeynets = Honeynets(request.config)
    yield honeynets
    honeynets.finish()


@pytest.fixture(scope="session")
def honeynet(request: pytest.FixtureRequest, vhn_honeynets: Honeynets) -> vhoneynet.Honeynet:
    """The running honeynet of the test's topology (vhn_topology marker or --vhn-topology)."""
    topology = getattr(request, "param", None)
    if topology is None:
        pytest.fail("the honeynet fixture needs a topology: --vhn-topology FILE or "
                    "@pytest.mark.vhn_topology('FILE')", pytrace=False)
    return vhn_honeynets.get(topology)


@pytest.fixture(autouse=True)
def _vhn_reset(request: pytest.FixtureRequest) -> None:
    """A test marked vhn_reset starts with its honeynet's honeypots reset."""
    marker = request.node.get_closest_marker("vhn_reset")
    if marker is not None and "honeynet" in request.fixturenames:
        request.getfixturevalue("honeynet").reset(*marker.args, **marker.kwargs)


@pytest.fixture
def fresh_honeynet(request: pytest.FixtureRequest, honeynet: vhoneynet.Honeynet) -> vhoneynet.Honeynet:
    """`honeynet`, its honeypots reset to pristine before the test (once: a vhn_reset marker's reset counts)."""
    if request.node.get_closest_marker("vhn_reset") is None:
        honeynet.reset()
    return honeynet
