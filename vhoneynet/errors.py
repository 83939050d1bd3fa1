"""One exception class per condition a user can see; each message is built once, here."""

from __future__ import annotations

import shlex

from vhoneynet.collect.dsn import redact

# Exit codes of the `vhoneynet` command, one per outcome a script may want to tell apart (docs/cli.md).
# They are part of the scripting contract: never renumber one.
OK = 0
CHECK_FAILED = 1  # the command ran, and a property it checks does not hold (a leak, a stealth tell)
INVALID = 2  # the input is wrong: topology, name, option (click's usage errors exit 2 too)
HOST_NOT_READY = 3  # the host lacks something: libvirtd, a tool, a permission
NOT_FOUND = 4  # no such honeynet, guest, checkpoint, recipe, image, capture
TIMED_OUT = 5  # a guest or a command gave no answer in time
CONFLICT = 6  # already exists, or collides with something on this host
FAILED = 7  # an operation went wrong on the host, in a guest or at a service
INTERNAL = 70  # a bug: the traceback is shown (EX_SOFTWARE of sysexits.h)


class VhoneynetError(Exception):
    """Base of every error the CLI reports without a traceback. `exit_code` is the command's exit
    status for this condition; subclasses set it (and inherit their parent's)."""

    exit_code = FAILED


class InvalidName(VhoneynetError):
    """An id or name (honeynet, guest, checkpoint, day) that vhoneynet refuses to use."""

    exit_code = INVALID

    def __init__(self, kind: str, value: object, rule: str):
        shown = repr(value) if len(repr(value)) <= 42 else repr(value)[:40] + "…"  # repr: control characters escaped
        super().__init__(f"{kind} {shown} is not valid: expected {rule}")


# --- topology -------------------------------------------------------------


class TopologyError(VhoneynetError):
    """The topology file cannot be used as written."""

    exit_code = INVALID


class TopologySyntaxError(TopologyError):
    def __init__(self, path: str, line: int | None, problem: str):
        self.line = line
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {problem}")


class TopologyInvalid(TopologyError):
    """One or more fields are wrong; every problem is listed with its field and line."""

    def __init__(self, path: str, problems: list[tuple[str, int | None, str]]):
        self.problems = problems
        lines = [
            f"{path}:{line or '?'}: {field}: {message}" for field, line, message in problems
        ]
        super().__init__("invalid topology\n" + "\n".join("  " + s for s in lines))


# --- images ---------------------------------------------------------------


class UnknownRecipe(VhoneynetError):
    exit_code = NOT_FOUND

    def __init__(self, name: str, known: list[str]):
        super().__init__(f"no image recipe named {name!r}; known: {', '.join(sorted(known))}")


class RecipeInvalid(VhoneynetError):
    exit_code = INVALID

    def __init__(self, name: str, problem: str):
        super().__init__(f"image recipe {name!r} (images/{name}/recipe.toml): {problem}")


class ImageBuildFailed(VhoneynetError):
    def __init__(self, recipe: str, step: str, detail: str):
        super().__init__(f"building image {recipe!r} failed at {step}: {detail.strip()[-2000:]}")


class ImageMissing(VhoneynetError):
    exit_code = NOT_FOUND

    def __init__(self, name: str, hint: str):
        super().__init__(f"image {name!r} is not available: {hint}")


# --- host -----------------------------------------------------------------


class HostNotReady(VhoneynetError):
    """The host lacks something vhoneynet needs (libvirtd, a tool, a permission)."""

    exit_code = HOST_NOT_READY


class HypervisorUnavailable(HostNotReady):
    def __init__(self, uri: str, detail: str):
        super().__init__(f"cannot connect to libvirt at {uri}: {detail}")


def _command(argv: list[str]) -> str:
    text = shlex.join(argv)
    return text if len(text) <= 200 else text[:197] + "..."


class CommandFailed(VhoneynetError):
    """A host command exited non-zero; the message has its exit code and the tail of what it said."""

    def __init__(self, argv: list[str], code: int, stderr: str):
        self.argv, self.code = argv, code
        super().__init__(f"{_command(argv)} exited {code}: {stderr.strip()[-1500:]}")


class CommandTimedOut(CommandFailed):
    """A host command gave no answer in time and was killed."""

    exit_code = TIMED_OUT

    def __init__(self, argv: list[str], seconds: float):
        self.argv, self.code = argv, None
        VhoneynetError.__init__(self, f"{_command(argv)} gave no answer within {seconds:g} s and was stopped")


class ToolMissing(HostNotReady):
    def __init__(self, tool: str):
        self.tool = tool
        super().__init__(f"{tool}: command not found on this host (run setup.sh, or install it)")


# --- honeynets ------------------------------------------------------------


class HoneynetExists(VhoneynetError):
    exit_code = CONFLICT

    def __init__(self, hid: str):
        super().__init__(f"honeynet {hid!r} is already up; run `vhoneynet down {hid}` first")


class HoneynetNotFound(VhoneynetError):
    exit_code = NOT_FOUND

    def __init__(self, hid: str):
        super().__init__(f"no honeynet {hid!r} on this host")


class GuestNotFound(VhoneynetError):
    exit_code = NOT_FOUND

    def __init__(self, hid: str, guest: str, known: list[str]):
        super().__init__(
            f"honeynet {hid!r} has no guest {guest!r}; guests: {', '.join(sorted(known)) or 'none'}"
        )


class GuestNotReady(VhoneynetError):
    exit_code = TIMED_OUT

    def __init__(self, guest: str, waited: float, detail: str):
        super().__init__(f"guest {guest!r} not ready after {waited:.0f} s: {detail}")


class AgentUnavailable(VhoneynetError):
    """A guest's agent did not give a well-formed answer in time; `answered`: it did answer, with
    an error of its own (the command may have half run: guest-set-time sets the clock, then
    fails to write the RTC on an image without hwclock)."""

    def __init__(self, guest: str, detail: str, answered: bool = False):
        super().__init__(f"cannot run commands in {guest!r}: {detail}")
        self.answered = answered


class ResourceConflict(VhoneynetError):
    """A name or subnet the topology needs is already used on this host."""

    exit_code = CONFLICT


class BroughtDiskUnreachable(ResourceConflict):
    """libvirt's qemu user cannot get to a disk the topology brings (`image: file:…`)."""

    exit_code = HOST_NOT_READY

    def __init__(self, field: str, disk: str):
        super().__init__(f"{field}: qemu's user cannot reach {disk} (a folder on its path is closed to other "
                         "users); put the disk where it can, e.g. under /var/lib/vhoneynet/")


class LinkError(VhoneynetError):
    """A host network operation (bridge, veth, network namespace) failed."""

    def __init__(self, action: str, name: str, detail: object):
        super().__init__(f"cannot {action} {name}: {detail}")


# --- labs -----------------------------------------------------------------


class CheckpointExists(VhoneynetError):
    exit_code = CONFLICT

    def __init__(self, hid: str, name: str):
        super().__init__(f"honeynet {hid!r} already has a checkpoint {name!r}; pick another name")


class CheckpointNotFound(VhoneynetError):
    exit_code = NOT_FOUND

    def __init__(self, hid: str, name: str, guest: str, available: list[str]):
        super().__init__(f"honeynet {hid!r} has no checkpoint {name!r} of {guest!r}; "
                         f"checkpoints of {guest!r}: {', '.join(available) or 'none'}")


class SubnetCollision(ResourceConflict):
    """A topology field collides with a honeynet already on this host (or with a host address)."""

    def __init__(self, field: str, value: object, other: str):
        super().__init__(f"{field} {value} collides with {other}; choose another value")



# --- capture and collection -------------------------------------------------


class CaptureGroupUnknown(VhoneynetError):
    exit_code = INVALID

    def __init__(self, group: str):
        super().__init__(f"gateway.capture.group: there is no group {group!r} on this host")


class CaptureNotFound(VhoneynetError):
    exit_code = NOT_FOUND

    def __init__(self, hid: str, where: str):
        super().__init__(f"no captures of honeynet {hid!r} in {where} (give --capture-dir?)")


class DayNotCaptured(VhoneynetError):
    exit_code = NOT_FOUND

    def __init__(self, hid: str, day: str, days: list[str]):
        super().__init__(f"honeynet {hid!r} has no capture for {day}; days: {', '.join(days) or 'none'}")


class AlertNotFound(VhoneynetError):
    exit_code = NOT_FOUND

    def __init__(self, seq: int, detail: str | None = None):
        super().__init__(detail or f"no event {seq} in the store (the alert numbers are in the report "
                                   "and in `events --type alert,control --json` as seq)")


class SliceEmpty(VhoneynetError):
    """No pcap file of the honeynet covers an alert's time."""

    exit_code = NOT_FOUND

    def __init__(self, detail: str):
        super().__init__(f"no pcap slice: {detail}")


class BadTimeSpec(VhoneynetError):
    exit_code = INVALID

    def __init__(self, text: str):
        super().__init__(f"--since {text!r}: give an ISO time (2026-01-31T12:00) or an age (30s, 15m, 2h, 7d)")


class CollectorUnavailable(VhoneynetError):
    def __init__(self, url: str, detail: str):
        super().__init__(f"collector {url} cannot be reached: {detail}")


class CollectorRefused(VhoneynetError):
    def __init__(self, url: str, status: int, detail: str):
        super().__init__(f"collector {url} refused the events ({status}): {detail}")


class CollectorDatabaseError(VhoneynetError):
    """The collector's database failed; the DSN's password is masked in the DSN and in the detail."""

    def __init__(self, dsn: str, detail: str):
        super().__init__(f"collector database {redact(dsn, dsn)!r}: {redact(detail, dsn)}")


class CollectorBadAnswer(VhoneynetError):
    """The collector answered something the shipper cannot act on (events stay spooled)."""

    def __init__(self, url: str, detail: str):
        super().__init__(f"collector {url} gave an answer that cannot be used: {detail}")


class WindowsIsoMissing(VhoneynetError):
    exit_code = INVALID

    def __init__(self, recipe: str, problem: str):
        super().__init__(
            f"image {recipe!r} is installed from your own Windows Server ISO, which vhoneynet cannot download: "
            f"{problem}. Run `vhoneynet image build {recipe} --iso /path/to/windows-server.iso` (Windows Server "
            "2019, 2022 or 2025; Microsoft's evaluation ISO works), or point the topology at a prepared disk "
            "with `image: file:/path/to/disk.qcow2`"
        )


# --- data control ---------------------------------------------------------


class DataControlFailed(VhoneynetError):
    """A data-control command in the gateway failed (the ruleset is left as it was)."""

    def __init__(self, hid: str, action: str, detail: str):
        super().__init__(f"honeynet {hid!r}: cannot {action} in the gateway: {detail.strip()[-1500:]}")


class BadLimitChange(VhoneynetError):
    exit_code = INVALID

    def __init__(self, change: str, problem: str):
        super().__init__(f"{change!r}: {problem} (expected tcp=N, udp=N, icmp=N, other=N or window=second|minute|hour|day)")


class VerifyUnavailable(VhoneynetError):
    def __init__(self, hid: str, reason: str):
        super().__init__(f"cannot verify honeynet {hid!r}: {reason}")
