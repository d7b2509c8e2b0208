"""Fail points for the fault-injection tests: `NSK_FAULT=<point>:<kill|error>`.

Unset in normal runs. The reliability tests set it to kill the process, or raise a database
error, at a named point in the middle of publication, and then check what a reader sees.
"""

from __future__ import annotations

import os
import signal


class InjectedFault(RuntimeError):
    pass


def fault_point(name: str) -> None:
    spec = os.environ.get("NSK_FAULT")
    if not spec:
        return
    point, _, action = spec.rpartition(":")
    if point != name:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise InjectedFault(f"injected fault at {name}")
