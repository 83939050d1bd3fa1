"""Per-honeypot settings as a cloud-init NoCloud seed (meta-data, user-data, network-config).

The same path personalises the built recipes and any cloud image a user brings.
What a recipe adds (the DNS honeypot's zone, for instance) it declares itself, in its
seed.toml and seed/ templates (`RecipeSeed`): nothing here names a recipe.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from vhoneynet import hardware
from vhoneynet.errors import RecipeInvalid
from vhoneynet.gateway.config import capture
from vhoneynet.images import RECIPES_DIR, brought_disk
from vhoneynet.render import recipe_environment, render
from vhoneynet.topology.model import Honeypot, Topology

SEED_LABEL = "cidata"  # the CD of a honeypot that boots its own boot loader
# A honeypot booted by us gets its seed inside its initrd, as this folder; the image's initrd
# script writes it to /var/lib/cloud/seed/nocloud (root's alone), where its cloud-init looks first
# (images/base), and cloud-final removes it once read: no device, no disk label, nothing left.
SEED_FOLDER = "nocloud"
# cloud-init's own closing line on the console: readiness without any artifact of ours.
READY_MARK = "Cloud-init v. "
READY_MARK_END = " finished at "


@dataclass(frozen=True)
class GuestFile:
    path: str
    content: str
    mode: str = "0644"


def documents(topo: Topology, pot: Honeypot) -> dict[str, str]:
    """The three NoCloud files for one honeypot, by file name."""
    files, commands = _recipe_extras(topo, pot)
    files = [*_capture_files(topo), *files]
    user_data = render(
        "cloudinit/user-data.j2",
        capture_commands=[_log_neighbour_now(topo), f"sysctl -q -p {CAPTURE_SYSCTL}", TTY_AUDIT_PAM,
                          f"systemctl enable --now {AUDIT_UNIT}", "systemctl restart rsyslog"],
        hostname=pot.name,
        domain=topo.networks.honeynet.domain,
        files=files,
        commands=commands,
    )
    network = render(
        "cloudinit/network-config.j2",
        mac=hardware.mac(topo.id, pot.name, pot.hardware),
        address=pot.address,
        prefixlen=topo.networks.honeynet.cidr.prefixlen,
        router=topo.networks.honeynet.router,
        domain=topo.networks.honeynet.domain,
        resolvers=[str(r) for r in resolvers(topo)],
    )
    digest = hashlib.sha256((user_data + network).encode()).hexdigest()[:12]
    meta = render("cloudinit/meta-data.j2", instance_id=f"i-{digest}", hostname=pot.name)
    return {"meta-data": meta, "user-data": user_data, "network-config": network}


def resolvers(topo: Topology) -> list:
    """The honeynet's DNS server: the topology's, or else the first honeypot whose recipe serves it."""
    if topo.networks.honeynet.resolver is not None:
        return [topo.networks.honeynet.resolver]
    return [h.address for h in topo.honeypots if RecipeSeed.of(h.image).resolver][:1]


# Names a site's own audit forwarding would have: nothing on a honeypot is named after the tool.
AUDIT_SCRIPT = "/usr/local/sbin/audisp-remote"
AUDIT_UNIT = "audisp-remote.service"
SYSLOG_FORWARD = "/etc/rsyslog.d/60-remote.conf"
# The log server's MAC, pinned: the honeypot never asks for it, and nothing answers for it (the
# gateway takes the frames off the wire: gateway/config/capture.py). cloud-init's networkd
# renderer names eth0's file 10-cloud-init-eth0.network.
LOG_NEIGHBOUR = "/etc/systemd/network/10-cloud-init-eth0.network.d/60-log-server.conf"
CAPTURE_SYSCTL = "/etc/sysctl.d/60-audit.conf"
# Typed keystrokes of every ssh and console session (log_passwd: what is typed at su's or sudo's
# password prompt too). `optional`: a kernel without audit must not lock everybody out.
TTY_AUDIT_PAM = ("for f in /etc/pam.d/sshd /etc/pam.d/login; do [ ! -f $f ] || grep -q pam_tty_audit $f || "
                 "echo 'session optional pam_tty_audit.so enable=* log_passwd' >> $f; done")


def _capture_files(topo: Topology) -> list[GuestFile]:
    """Syslog to the honeynet's log sink, and kernel audit of login sessions (commands and typed keystrokes)."""
    forward = render("cloudinit/rsyslog/forward.conf.j2", loghost=topo.networks.honeynet.log_sink)
    neighbour = f"[Neighbor]\nAddress={topo.networks.honeynet.log_sink}\nLinkLayerAddress={capture.sink_mac(topo)}\n"
    return [GuestFile(SYSLOG_FORWARD, forward), GuestFile(LOG_NEIGHBOUR, neighbour),
            GuestFile(CAPTURE_SYSCTL, render("cloudinit/sysctl-capture.conf.j2")),
            GuestFile(AUDIT_SCRIPT, render("cloudinit/audit.py.j2", loghost=topo.networks.honeynet.log_sink,
                                           port=capture.AUDIT_PORT), mode="0755"),
            GuestFile(f"/etc/systemd/system/{AUDIT_UNIT}", render("cloudinit/audit.service.j2"))]


def _log_neighbour_now(topo: Topology) -> str:
    """The neighbour entry of LOG_NEIGHBOUR, made at once (networkd reads its file at the next boot)."""
    return f"ip neigh replace {topo.networks.honeynet.log_sink} lladdr {capture.sink_mac(topo)} dev eth0 nud permanent"


@dataclass(frozen=True)
class RecipeSeed:
    """What a recipe adds to its honeypots' seeds, from images/<name>/seed.toml: `files` (guest
    path and template in seed/), `commands` run once, and `resolver` (it serves the honeynet's
    DNS). Paths, templates and commands are jinja2, with hostname, domain, fqdn and records."""

    folder: Path | None = None
    files: tuple[tuple[str, str], ...] = ()
    commands: tuple[str, ...] = ()
    resolver: bool = False

    @classmethod
    @cache
    def of(cls, image: str, recipes_dir: Path = RECIPES_DIR) -> RecipeSeed:
        """The seed extras of an image (none for a brought disk or a recipe without seed.toml).
        Raises RecipeInvalid naming the recipe and what is wrong."""
        path = recipes_dir / image / "seed.toml"
        if brought_disk(image) is not None or "/" in image or not path.is_file():
            return cls()
        try:
            data = tomllib.loads(path.read_text())
            unknown = set(data) - {"files", "commands", "resolver"}
            if unknown:
                raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
            files = tuple((str(f["path"]), str(f["template"])) for f in data.get("files", []))
            commands = tuple(str(c) for c in data.get("commands", []))
            if not isinstance(data.get("resolver", False), bool):
                raise TypeError("resolver must be true or false")
        except (tomllib.TOMLDecodeError, ValueError, KeyError, TypeError) as e:
            raise RecipeInvalid(image, f"seed.toml: {e}") from None
        return cls(path.parent / "seed", files, commands, data.get("resolver", False))

    def render(self, topo: Topology, pot: Honeypot) -> tuple[list[GuestFile], list[str]]:
        """The files and commands for honeypot `pot`."""
        if self.folder is None:
            return [], []
        domain = topo.networks.honeynet.domain
        context = {"hostname": pot.name, "domain": domain, "fqdn": f"{pot.name}.{domain}",
                   "records": [(h.name, h.address) for h in topo.honeypots]}
        env = recipe_environment(self.folder)
        files = [GuestFile(env.from_string(path).render(context), env.get_template(template).render(context))
                 for path, template in self.files]
        return files, [env.from_string(c).render(context) for c in self.commands]


def _recipe_extras(topo: Topology, pot: Honeypot) -> tuple[list[GuestFile], list[str]]:
    return RecipeSeed.of(pot.image).render(topo, pot)
