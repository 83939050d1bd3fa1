#!/usr/bin/env python3
"""Lifecycle benchmark: up, reset, checkpoint and down of honeynets with 1, 2, 4 and 8 honeypots.

Run as root on a host prepared by ./setup.sh (not part of the test suite):

    .venv/bin/python benchmarks/lifecycle.py [--sizes 1,2,4,8] [--recipe linux-ssh] [--memory 256] [--no-checkpoint] [--ksm SECONDS]
    .venv/bin/python benchmarks/lifecycle.py --density 40 [--memory 256] [--ksm SECONDS]

For each size it brings up a gateway plus N honeypots of one recipe through the real CLI and
records: `up` wall time and its split (images, orchestration = everything but images and guest
boot, boot, warm-state save), memory (RSS) of each idle honeypot's qemu process after the boot
and after a restore, `reset` of every honeypot from its warm state (a restore) against `reset
--cold` (a boot) in the same run, with their ratio, `reset --to` a checkpoint, `down`, and the
same topology brought up again (warm: its honeypots restored from the states the first `up`
kept, the gateway's included) against its first, cold `up`, with their ratio, and the idle CPU of
each honeypot, from which, with its RSS, the number of idle honeypots this host holds is
projected (memory available before the run, 80 % of the cores). Results go to
stdout as JSON and to benchmarks/results/<host>-<date>.json; benchmarks/README.md holds the
table of a run with the machine it came from.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VHONEYNET = [sys.executable, "-m", "vhoneynet"]
TARGETS = {"orchestration_s": "≤ 1 s + 0.1 s per guest", "disk_revert_s": "≤ 0.5 s per guest", "down_s": "≤ 2 s for 8 guests",
           "restore_to_boot": "reset until ready by restore ≤ 0.1 × by boot",
           "warm_up_to_cold_up": "up of the same topology again ≤ 0.2 × its first (cold) up"}


def vhn(*args: str, timeout: float) -> dict:
    started = time.monotonic()
    proc = subprocess.run([*VHONEYNET, *args, "--json"], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"vhoneynet {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout) if proc.stdout.strip() else {}
    out["_wall"] = round(time.monotonic() - started, 2)
    return out


def topology(hid: str, n: int, recipe: str, memory: int, admin_octet: int, capture: Path) -> str:
    return json.dumps({
        "id": hid,
        "networks": {"honeynet": {"cidr": "203.0.113.0/24", "domain": "bench.example"},
                     "admin": {"cidr": f"10.254.{admin_octet}.0/29"}},
        "gateway": {"memory": 384, "capture": {"directory": str(capture)}},
        "defaults": {"memory": memory},
        "honeypots": [{"name": f"pot{i}", "image": recipe, "address": f"203.0.113.{10 + i}", "memory": memory}
                      for i in range(n)],
        "outside": [{"name": "probe", "address": "203.0.113.200"}],
    })


def qemu_pid(domain: str) -> str:
    return Path(f"/run/libvirt/qemu/{domain}.pid").read_text().strip()


def rss_mib(domain: str) -> float | None:
    try:
        for line in Path(f"/proc/{qemu_pid(domain)}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def mean_rss(domains: list[str]) -> float:
    rss = [r for r in (rss_mib(d) for d in domains) if r]
    return round(sum(rss) / max(1, len(rss)), 1)


def cpu_seconds(domain: str) -> float:
    """CPU time qemu of `domain` has used (user + system; 0 when it is gone)."""
    try:
        fields = Path(f"/proc/{qemu_pid(domain)}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu_percent(domains: list[str], seconds: float) -> float:
    """Mean share of one core each idle guest's qemu takes over `seconds`."""
    before = {d: cpu_seconds(d) for d in domains}
    time.sleep(seconds)
    used = [cpu_seconds(d) - before[d] for d in domains]
    return round(100 * sum(used) / len(used) / seconds, 2)


def available_mib() -> float:
    line = next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemAvailable"))
    return int(line.split()[1]) / 1024


def density(row: dict, free_mib: float) -> dict:
    """How many idle honeypots like these this host holds beside the gateway, projected from what
    was measured (RSS after a restore, with KSM where measured, and idle CPU per honeypot): the
    memory that was available before the run, and the cores at 80 % busy."""
    rss = row.get("rss_mib_per_honeypot_with_ksm") or row.get("rss_mib_per_honeypot_after_restore")
    cpu = row.get("idle_cpu_percent_per_honeypot")
    if not rss or not cpu:
        return {}
    by_memory = int((free_mib - row.get("rss_mib_gateway", 0)) // rss)
    by_cpu = int(0.8 * 100 * (os.cpu_count() or 1) // cpu)
    return {"idle_honeypots_by_memory": by_memory, "idle_honeypots_by_cpu": by_cpu,
            "idle_honeypots_projected": min(by_memory, by_cpu)}


def other_domains() -> int:
    """Running libvirt domains on the host (other honeynets share the cores)."""
    out = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--name"], capture_output=True, text=True).stdout
    return len([n for n in out.splitlines() if n.strip()])


def machine() -> dict:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem = next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return {"host": platform.node(), "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(int(mem) / 2**20, 1),
            "kernel": platform.release(), "qemu": qemu, "load_at_start": os.getloadavg(),
            "ksm": "absent" if ksm("run") is None else ("running" if ksm("run") == 1 else "off")}


def one(n: int, recipe: str, memory: int, timeout: float, probe: bool = True, checkpoints: bool = True,
        merge_seconds: int = 0) -> dict:
    hid = "vb" + secrets.token_hex(3)[:5]
    work = Path(tempfile.mkdtemp(prefix=f"vhn-bench-{hid}-"))
    topo = work / "topology.yml"
    topo.write_text(topology(hid, n, recipe, memory, 100 + n, work / "captures"))
    row: dict = {"honeypots": n, "id": hid, "load_before": os.getloadavg(), "other_domains_running": other_domains()}
    free_mib = available_mib()
    try:
        wait = [] if probe else ["--no-probe"]
        up = vhn("up", str(topo), "--timeout", str(timeout), *wait, timeout=timeout + 120)
        row["up_s"] = up["_wall"]
        row |= {f"{k}_s": v for k, v in up["timings"].items()}
        domains = [g["domain"] for g in up["guests"] if g["role"] == "honeypot"]
        time.sleep(15)  # idle
        row["rss_mib_per_honeypot"] = mean_rss(domains)  # booted, then saved and restored by `up`
        gateway = next(g["domain"] for g in up["guests"] if g["role"] == "gateway")
        row["rss_mib_gateway"] = rss_mib(gateway)
        warm = vhn("reset", hid, "--timeout", str(timeout), *wait, timeout=timeout + 120)
        time.sleep(15)
        row["rss_mib_per_honeypot_after_restore"] = mean_rss(domains)
        row["idle_cpu_percent_per_honeypot"] = idle_cpu_percent(domains, 30)
        row["idle_cpu_percent_gateway"] = idle_cpu_percent([gateway], 10)
        cold = vhn("reset", hid, "--cold", "--timeout", str(timeout), *wait, timeout=timeout + 120)
        time.sleep(15)
        row["rss_mib_per_honeypot_after_boot"] = mean_rss(domains)
        reverts = [g["disk_revert"] for g in cold["guests"].values()]
        row |= {"reset_restore_s": warm["_wall"], "reset_boot_s": cold["_wall"],
                "reset_restore_until_ready_s_max": max(g["until_ready"] for g in warm["guests"].values()),
                "reset_boot_until_ready_s_max": max(g["until_ready"] for g in cold["guests"].values()),
                "restored": sorted(n for n, g in warm["guests"].items() if g["how"] == "restore"),
                "disk_revert_s_max": max(reverts), "disk_revert_s_mean": round(sum(reverts) / len(reverts), 3)}
        row["restore_to_boot"] = round(row["reset_restore_s"] / row["reset_boot_s"], 3)
        if checkpoints:
            cp = vhn("checkpoint", hid, "bench", timeout=600)
            row["checkpoint_s"] = cp["_wall"]
            to = vhn("reset", hid, "--to", "bench", "--timeout", str(timeout), *wait, timeout=timeout + 120)
            row["reset_to_disk_revert_s_max"] = max(g["disk_revert"] for g in to["guests"].values())
            row["reset_to_until_ready_s_max"] = max(g["until_ready"] for g in to["guests"].values())
        # the same topology up again: its honeypots restored from the states the first `up` kept
        vhn("down", hid, timeout=600)
        again = vhn("up", str(topo), "--timeout", str(timeout), *wait, timeout=timeout + 120)
        row |= {"warm_up_s": again["_wall"], "warm_up_boot_s": again["timings"]["boot"],
                "warm_up_restored": sorted(n for n, how in again["started"].items() if how == "restored")}
        row["warm_up_to_cold_up"] = round(row["warm_up_s"] / row["up_s"], 3)
        time.sleep(15)
        row["rss_mib_per_honeypot_after_warm_up"] = mean_rss(domains)
        if merge_seconds:
            row |= merged(domains, merge_seconds)
        row |= density(row, free_mib)
    except (RuntimeError, subprocess.TimeoutExpired, KeyError) as e:  # keep what was measured before
        row["error"] = str(e)[-1000:]
    finally:
        try:
            down = vhn("down", hid, timeout=600)
            row["down_s"] = down["down_seconds"]
            row["load_after"] = os.getloadavg()
        except RuntimeError as e:
            row["down_error"] = str(e)[-500:]
        subprocess.run([*VHONEYNET, "prune", hid], capture_output=True)  # its kept warm states
        subprocess.run(["rm", "-rf", str(work)])
    return row


def hold(n: int, recipe: str, memory: int, timeout: float, merge_seconds: int = 0) -> dict:
    """`n` idle honeypots beside the gateway in one honeynet: do they all come up and stay up on
    this host, and what do they take, booted (the first `up`) and restored (`down`, then `up`
    again)? Ready is each console's (probing n × services would be the benchmark); see `idle`."""
    hid = "vd" + secrets.token_hex(3)[:5]
    work = Path(tempfile.mkdtemp(prefix=f"vhn-bench-{hid}-"))
    topo = work / "topology.yml"
    topo.write_text(topology(hid, n, recipe, memory, 99, work / "captures"))
    row: dict = {"density": n, "id": hid, "available_mib_before": round(available_mib())}
    try:
        for how in ("cold", "warm"):  # booted, then down and up again: restored from the kept states
            if how == "warm":
                row["cold"]["down_s"] = vhn("down", hid, timeout=900)["down_seconds"]
            up = vhn("up", str(topo), "--no-probe", "--timeout", str(timeout), timeout=timeout + 300)
            started = [s for guest, s in up["started"].items() if guest != "gateway"]
            row[how] = {"up_s": up["_wall"], "boot_s": up["timings"]["boot"],
                        "restored": started.count("restored"), "booted": started.count("booted")}
            row[how] |= idle(hid, n, [g["domain"] for g in up["guests"] if g["role"] == "honeypot"],
                             merge_seconds if how == "warm" else 0)
            row[how]["gateway_rss_mib"] = mean_rss([g["domain"] for g in up["guests"] if g["role"] == "gateway"])
    except (RuntimeError, subprocess.SubprocessError, KeyError) as e:
        row["error"] = str(e)[-1000:]
    finally:
        try:
            row["down_s"] = vhn("down", hid, timeout=900)["down_seconds"]
        except RuntimeError as e:
            row["down_error"] = str(e)[-500:]
        subprocess.run([*VHONEYNET, "prune", hid], capture_output=True)
        subprocess.run(["rm", "-rf", str(work)])
    return row


def idle(hid: str, n: int, domains: list[str], merge_seconds: int) -> dict:
    """Three of the `n` honeypots asked to run a command; then, after a minute idle, how many run,
    the memory available, RSS and idle CPU per honeypot and the load (with KSM after)."""
    for name in sorted({f"pot{i}" for i in (0, n // 2, n - 1)}):
        subprocess.run([*VHONEYNET, "exec", hid, name, "--", "true"], check=True, capture_output=True, timeout=120)
    time.sleep(60)
    status = vhn("status", hid, timeout=120)
    row = {"running": sum(g["state"] == "running" for g in status["guests"] if g["role"] == "honeypot"),
           "available_mib_idle": round(available_mib()), "rss_mib_per_honeypot": mean_rss(domains),
           "idle_cpu_percent_per_honeypot": idle_cpu_percent(domains, 30), "load_idle": os.getloadavg()}
    if merge_seconds:
        row |= merged(domains, merge_seconds)
        row["available_mib_with_ksm"] = round(available_mib())
    return row


def merged(domains: list[str], seconds: int) -> dict:
    """Turn the kernel's same-page merging on for `seconds` (qemu marks guest memory mergeable),
    and say what it saved: MiB shared and RSS per honeypot after. Its setting is put back."""
    knobs = Path("/sys/kernel/mm/ksm")
    if ksm("run") is None:
        return {"ksm": "absent"}
    before = {k: (knobs / k).read_text() for k in ("run", "pages_to_scan", "sleep_millisecs")}
    try:
        (knobs / "pages_to_scan").write_text("4000")
        (knobs / "sleep_millisecs").write_text("20")
        (knobs / "run").write_text("1")
        time.sleep(seconds)
        return {"ksm_seconds": seconds, "ksm_shared_mib": round(ksm("pages_sharing") * 4 / 1024, 1),
                "rss_mib_per_honeypot_with_ksm": mean_rss(domains)}
    finally:
        for k in ("run", "pages_to_scan", "sleep_millisecs"):
            (knobs / k).write_text(before[k])


def ksm(counter: str) -> int | None:
    """A counter of the kernel's same-page merging (None where the kernel has none)."""
    try:
        return int(Path(f"/sys/kernel/mm/ksm/{counter}").read_text())
    except OSError:
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,2,4,8")
    ap.add_argument("--recipe", default="linux-ssh")
    ap.add_argument("--memory", type=int, default=256)
    ap.add_argument("--timeout", type=float, default=2400, help="seconds per up/reset")
    ap.add_argument("--no-probe", action="store_true", help="ready = console only, no service probes")
    ap.add_argument("--no-checkpoint", action="store_true", help="skip checkpoint and reset --to (halves a size's time)")
    ap.add_argument("--ksm", type=int, default=0, metavar="SECONDS",
                    help="at the end of each size, turn KSM on for SECONDS and measure what it shares")
    ap.add_argument("--density", type=int, default=0, metavar="N",
                    help="instead: N idle honeypots and the gateway in one honeynet, and what they take")
    args = ap.parse_args()
    if args.density:
        row = hold(args.density, args.recipe, args.memory, args.timeout, args.ksm)
        row["machine"] = machine()
        out = ROOT / "benchmarks" / "results" / f"density-{args.density}-{time.strftime('%Y%m%dT%H%M')}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(row, indent=2) + "\n")
        print(json.dumps(row, indent=2))
        return 0
    result = {"machine": machine(), "recipe": args.recipe, "memory_mib": args.memory, "probes": not args.no_probe,
              "targets": TARGETS, "runs": []}
    for n in (int(s) for s in args.sizes.split(",")):
        print(f"== {n} honeypots", file=sys.stderr, flush=True)
        try:
            result["runs"].append(one(n, args.recipe, args.memory, args.timeout, probe=not args.no_probe,
                                      checkpoints=not args.no_checkpoint, merge_seconds=args.ksm))
        except Exception as e:  # keep the other sizes' figures
            result["runs"].append({"honeypots": n, "error": str(e)[-1000:]})
        print(json.dumps(result["runs"][-1]), file=sys.stderr, flush=True)
    out = ROOT / "benchmarks" / "results" / f"{platform.node()}-{time.strftime('%Y%m%dT%H%M')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
