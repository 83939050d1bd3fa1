"""Open login sessions of a honeypot, hung up before it is powered off.

A shell that reads in raw mode (bash's readline) keeps what is typed at its prompt in the
kernel's TTY audit buffer until it exits; only then does the keystroke record go out through
syslog to the log host. A honeypot powered off by `reset` or `down` while an intruder is
still logged in would lose that record. So before a honeypot goes, its sessions are hung up
through the guest agent: every shell exits, its record is written and forwarded, and only then
is the domain stopped. Finding nobody logged in costs the shell and one `pgrep`, not a
pipeline of three programs: it matters in a busy guest under TCG. A honeypot without its agent
(`agent: false`) cannot be asked; the prompt keystrokes of sessions still open on it are lost
(its commands are not: they are recorded as they run).
"""

from __future__ import annotations

from vhoneynet.backend.protocols import Hypervisor

# Login terminals (ssh's pts, virtual consoles, the serial console) with anything but getty on them.
_SESSIONS = "ps -eo tty=,comm= | awk '$1 ~ /^(pts\\/|tty[0-9]|ttyS)/ && $2 != \"agetty\" {print $1}' | sort -u"
# The usual case, nobody logged in, told cheaply: a login session holds a pseudo-terminal
# (/dev/pts/N exists while one is open) or, on a console, a `login` process. (The agent's
# guest-get-users would be cheaper still, but it reads utmp, which Debian 13 guests no longer keep.)
HANG_UP = f"""
set -- /dev/pts/[0-9]*
[ -e "$1" ] || pgrep -x login > /dev/null || exit 0
ttys=$({_SESSIONS})
[ -n "$ttys" ] || exit 0
for t in $ttys; do pkill -HUP -t "$t"; done
for _ in $(seq 20); do [ -z "$({_SESSIONS})" ] && break; sleep 0.2; done
sleep 1  # the records' way out: audit forwarder, rsyslog, TCP to the log host
echo "$ttys"
"""


def hang_up(hv: Hypervisor, domain: str, timeout: float = 15) -> list[str]:
    """Hang up every login session of a running honeypot and let its records leave; returns the
    terminals that had one (empty when none, or when the agent does not answer well).

    Never raises: teardown must not depend on a guest answering. A guest that does not answer
    costs the ping's few seconds; one that answers the ping and then stalls, `timeout` at most."""
    try:
        if not hv.agent_ready(domain):  # no agent, or a hung guest: do not hold `down` for it
            return []
        result = hv.execute(domain, ["/bin/sh", "-c", HANG_UP], timeout=timeout)
        return result.stdout.decode(errors="replace").split() if result.exit_code == 0 else []
    except Exception:  # any failure of a (possibly hostile) guest is "agent unavailable"
        return []
