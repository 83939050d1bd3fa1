"""Topology format v1: the typed model of one honeynet.

Every class is frozen and forbids unknown fields, so a typo is an error that names the
field instead of a silently ignored setting. Defaults follow the Honeynet Project's
GenII/GenIII gateway (per-honeypot outbound limits of TCP 20, UDP 20, ICMP 50, other 10
new connections an hour).
"""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    SerializationInfo,
)

from vhoneynet import hardware, naming

DEFAULT_STORAGE = Path("/var/lib/vhoneynet")
DEFAULT_URI = "qemu:///system"  # libvirt's system instance: guests that outlive the command
CAPTURES = "captures"  # the capture folders' default home, under host.storage

Name = Annotated[str, Field(pattern=naming.GUEST_PATTERN, description="lower-case name: letters, digits, '-'")]
MiB = Annotated[int, Field(ge=128, le=1 << 20, description="memory in MiB")]
VCpus = Annotated[int, Field(ge=1, le=64)]
# nftables keeps a limit's burst in 32 bits and silently drops a larger one (no limit at all):
# every count or rate the gateway's ruleset carries stays below it.
NFT_MAX = (1 << 32) - 1
Count = Annotated[int, Field(ge=0, le=NFT_MAX, description=f"new connections per window, 0 to {NFT_MAX}")]
Hardware = Literal[tuple(hardware.names())]  # type: ignore[valid-type]

# The one dump that may hold secrets in clear: the run folder's saved topology (host-only, 0600),
# which `events --follow` and the capture follower read back to ship.
REVEAL_SECRETS = {"reveal_secrets": True}


def _secret_json(value: SecretStr, info: SerializationInfo) -> str:
    # masked in every JSON dump unless the caller asked for REVEAL_SECRETS
    return value.get_secret_value() if (info.context or {}).get("reveal_secrets") else str(value)


Secret = Annotated[SecretStr, PlainSerializer(_secret_json, when_used="json")]


class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Accel(StrEnum):
    auto = "auto"
    kvm = "kvm"
    tcg = "tcg"


class Host(Spec):
    """Where the honeynet runs."""

    uri: str = Field(DEFAULT_URI, description="libvirt connection URI")
    accel: Accel = Field(Accel.auto, description="kvm where hardware virtualization works, else tcg; auto decides")
    storage: Path = Field(DEFAULT_STORAGE, description="images, guest overlays and captures live under this folder")


class Internet(Spec):
    """The internet side of the gateway."""

    mode: Literal["isolated", "bridge"] = Field(
        "isolated", description="isolated: a private host bridge (tests, demos, training); bridge: an existing host bridge"
    )
    bridge: str | None = Field(None, description="existing host bridge, for mode: bridge", max_length=15)


class Honeynet(Spec):
    """The honeypots' network; the gateway bridges it to the internet side at layer 2."""

    cidr: IPv4Network = Field(IPv4Network("203.0.113.0/24"), description="the honeypots' subnet")
    router: IPv4Address | None = Field(None, description="the honeypots' default route (a router on the internet side)")
    domain: str = Field("honeynet.example", description="DNS domain of the honeypots", pattern=r"^[a-z0-9.-]+$",
                        max_length=253)
    resolver: IPv4Address | None = Field(None, description="DNS resolver the honeypots use (default: the DNS honeypot, if any)")
    loghost: IPv4Address | None = Field(
        None, description="syslog sink inside the gateway the honeypots send to (default: the subnet's last usable address)"
    )

    @property
    def log_sink(self) -> IPv4Address:
        return self.loghost or self.cidr.broadcast_address - 1


class Admin(Spec):
    """The host-only management network between the host and the gateway."""

    cidr: IPv4Network = Field(IPv4Network("10.254.0.0/29"), description="host = first address, gateway = second")


class Networks(Spec):
    internet: Internet = Internet()
    honeynet: Honeynet = Honeynet()
    admin: Admin = Admin()


class Limits(Spec):
    """New outbound connections a honeypot may start per window, per protocol."""

    tcp: Count = 20
    udp: Count = 20
    icmp: Count = 50
    other: Count = 10
    window: Literal["second", "minute", "hour", "day"] = "hour"


_RATE_UNITS = {"bit": 1 / 8, "kbit": 1000 / 8, "mbit": 1000**2 / 8, "gbit": 1000**3 / 8,
               "bps": 1, "kbps": 1000, "mbps": 1000**2, "gbps": 1000**3}  # bytes per second
_SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2}


def _split(text: str) -> tuple[int, str]:
    digits = text[:len(text) - len(text.lstrip("0123456789"))]
    return int(digits), text[len(digits):].strip()


def rate_bytes(rate: str) -> int:
    """Bytes per second of a topology rate such as '1mbit' or '500kbps'."""
    number, unit = _split(rate)
    return max(1, round(number * _RATE_UNITS[unit]))


def size_bytes(size: str) -> int:
    """Bytes of a topology size such as '64kb'."""
    number, unit = _split(size)
    return number * _SIZE_UNITS[unit]


def _within_nft(to_bytes, what: str) -> AfterValidator:
    """A check that a rate or size stays within NFT_MAX bytes once converted."""
    def check(text: str) -> str:
        if len(text) > 32 or to_bytes(text) > NFT_MAX:
            raise ValueError(f"{what} over {NFT_MAX} bytes{'/s' if what == 'rate' else ''}, the most nftables keeps")
        return text
    return AfterValidator(check)


Rate = Annotated[str, Field(pattern=r"^[0-9]+ ?(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$",
                            description="bits (kbit, mbit, gbit) or bytes (kbps, mbps) per second"),
                 _within_nft(rate_bytes, "rate")]
Size = Annotated[str, Field(pattern=r"^[0-9]+ ?(b|kb|mb)$", description="bytes: b, kb, mb"),
                 _within_nft(size_bytes, "size")]


class Throttle(Spec):
    """Outbound bandwidth of each honeypot, independent of the connection limits."""

    enabled: bool = True
    rate: Rate = "1mbit"
    burst: Size = "64kb"


class Ips(Spec):
    """Suricata inline on outbound traffic (drop / replace / reject); inbound is only alerted on."""

    enabled: bool = True
    rule_files: list[Path] = Field(default_factory=list, description="extra Suricata rule files (ET Open or your own): absolute "
                                   "paths on this host, regular UTF-8 files of at most 64 MiB, loaded after the curated set")
    rules: list[str] = Field(default_factory=list, description="extra rules, one Suricata rule a line")
    curated: bool = Field(True, description="load the curated rule set shipped with vhoneynet")


class Alerts(Spec):
    """Where alerts go besides <capture_dir>/<id>/<day>/alerts.jsonl (always written)."""

    command: str | None = Field(None, description="host command run per alert; the alert is its stdin (JSON)")
    webhook: str | None = Field(None, pattern=r"^https?://", description="URL that gets each alert as a JSON POST")


class DataControl(Spec):
    """Containment: what a compromised honeypot may still send out."""

    mode: Literal["limit", "roach-motel"] = Field(
        "limit", description="limit: count new outbound connections; roach-motel: no outbound at all"
    )
    limits: Limits = Limits()
    icmp: Literal["limit", "block"] = Field("limit", description="outbound ICMP counted like other protocols, or blocked")
    throttle: Throttle = Throttle()
    fence: list[IPv4Network] = Field(default_factory=list, description="networks honeypots may never reach")
    allow: list[IPv4Network] = Field(default_factory=list, description="destinations exempt from counting (e.g. resolvers)")
    ips: Ips = Ips()
    alerts: Alerts = Alerts()
    lockdown: bool = Field(False, description="start with all outbound traffic stopped (`vhoneynet unlock` opens it); "
                                              "`lockdown`/`unlock` keep this in the running honeynet's saved topology")


_QUOTA_UNITS = {"M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
Quota = Annotated[str, Field(pattern=r"^[1-9][0-9]{0,5}[MGT]$", description="bytes: a whole number of M, G or T (MiB, GiB, TiB)")]


class Capture(Spec):
    pcap: bool = Field(True, description="full packet capture of the gateway bridge")
    directory: Path | None = Field(None, description="default: <host.storage>/captures")
    group: str | None = Field(None, pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
                              description="host group that may read the captures (folders 0750, files 0640); "
                                          "default: root only")
    retention_days: int = Field(30, ge=1, le=36500, description="days kept (at most 100 years: `date -d` bounds it)")
    rotate_mb: int = Field(100, ge=1, le=1_000_000,
                           description="a pcap file is rotated hourly or at this size, whichever comes first")
    quota: Quota = Field("10G", description="most the gateway may write into the capture share (pcap, IDS, logs); "
                                            "over it, outbound is locked down and a capture-full alert raised")

    @property
    def quota_bytes(self) -> int:
        """The quota in bytes ("10G" -> 10 GiB)."""
        return int(self.quota[:-1]) * _QUOTA_UNITS[self.quota[-1]]


class Hpfeeds(Spec):
    """An hpfeeds broker that gets every event too, on channels vhoneynet.<type>."""

    host: str
    port: int = Field(10000, ge=1, le=65535)
    ident: str = Field(min_length=1, max_length=255)
    secret: Secret = Field(min_length=1, description="the ident's secret (never printed; saved only in the run folder)")


class Collect(Spec):
    """A central collector (`vhoneynet collector serve`) this honeynet ships its events to."""

    url: str = Field(pattern=r"^https://", description="collector URL, e.g. https://collector.example:8443")
    token: Secret = Field(min_length=16, description="this honeynet's credential, from `vhoneynet collector token` "
                          "(never printed; saved only in the run folder)")
    ca: Path | None = Field(None, description="CA or self-signed certificate of the collector (default: system CAs)")
    hpfeeds: Hpfeeds | None = Field(None, description="also publish every event to this hpfeeds broker")


class Gateway(Spec):
    """The honeywall: a layer-2 bridge VM running data control and data capture."""

    image: str = "honeywall"
    memory: MiB = 384
    vcpus: VCpus = 1
    data_control: DataControl = DataControl()
    capture: Capture = Capture()


class GuestSettings(Spec):
    """Settings a honeypot inherits: defaults, then kinds[image], then the honeypot itself."""

    memory: MiB | None = None
    vcpus: VCpus | None = None
    agent: bool | None = Field(
        None, description="qemu guest agent channel (used by `exec`); visible to an attacker, so it can be turned off"
    )
    hardware: Hardware | None = None


class Service(Spec):
    """A port a brought disk's honeypot answers on once it is ready (a recipe declares its own)."""

    name: Name
    port: int = Field(ge=1, le=65535)
    proto: Literal["tcp", "udp"] = "tcp"


class Honeypot(Spec):
    name: Name
    image: str = Field(description="recipe name from images/, or file:/path/to/disk.qcow2")
    address: IPv4Address
    memory: MiB = 512
    vcpus: VCpus = 1
    agent: bool = True
    hardware: Hardware = Field(hardware.AUTO, description="the machine it looks like from inside: "
                               "auto (a catalogue profile picked by id and name), a profile name, or virtual (qemu's own)")
    boot: Literal["bios", "uefi"] | None = Field(
        None, description="how a brought disk (image: file:/…) starts: bios (its boot loader through SeaBIOS, "
                          "personalised by a cloud-init seed CD; the default) or uefi (through OVMF on PC hardware, "
                          "personalised by an answer disk, as a Windows honeypot is)")
    services: list[Service] = Field(
        default_factory=list, description="the ports a brought disk answers on once ready: `up` waits until each "
                                          "answers from the internet side (a recipe declares its own)")


class Outside(Spec):
    """A lightweight host on the internet side (a network namespace): attacker, sink, or remote server."""

    name: Name
    address: IPv4Address


class Topology(Spec):
    """One honeynet."""

    version: Literal[1] = 1
    id: str = Field(pattern=naming.ID_PATTERN, description="honeynet id: tags every resource and record")
    host: Host = Host()
    networks: Networks = Networks()
    gateway: Gateway = Gateway()
    defaults: GuestSettings = GuestSettings()
    kinds: dict[str, GuestSettings] = Field(default_factory=dict, description="settings per image")
    honeypots: list[Honeypot] = Field(default_factory=list)
    outside: list[Outside] = Field(default_factory=list)
    collect: Collect | None = Field(None, description="ship events to a central collector")

    @property
    def capture_dir(self) -> Path:
        """The folder of every honeynet's capture folder (this one's is rundir.CaptureFolder.of)."""
        return self.gateway.capture.directory or self.host.storage / CAPTURES

    def honeypot(self, name: str) -> Honeypot:
        return next(h for h in self.honeypots if h.name == name)
