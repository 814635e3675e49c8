"""Python tools that take their time: one on the event loop, one in a thread."""

from __future__ import annotations

import threading
import time

import anyio

from pasarela import tool

FINISHED = threading.Event()  # set when `nap` returns, so a test can tell it was not waited for


@tool
async def snooze(seconds: float) -> str:
    await anyio.sleep(seconds)
    return "done"


@tool
def nap(seconds: float) -> str:
    FINISHED.clear()
    time.sleep(seconds)
    FINISHED.set()
    return "done"
