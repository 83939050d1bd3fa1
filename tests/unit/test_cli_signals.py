"""`kill -USR1` of a running vhoneynet command prints every thread's stack on stderr and the
command goes on (how a hung `up` says where it hangs)."""

from __future__ import annotations

import signal
import subprocess
import sys

COMMAND = """
import sys, time, typer
from vhoneynet.cli.base import _Group

app = typer.Typer(cls=_Group)

@app.command()
def wait() -> None:
    print("waiting", flush=True)
    time.sleep(3)
    print("done", flush=True)

@app.command()
def other() -> None:
    pass

app()
"""


def test_sigusr1_prints_every_threads_stack_and_the_command_goes_on():
    proc = subprocess.Popen([sys.executable, "-c", COMMAND, "wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"waiting\n"
    proc.send_signal(signal.SIGUSR1)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out == b"done\n"
    assert b"most recent call first" in err and b"in wait" in err, err
