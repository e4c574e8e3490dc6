"""Ending a process that has used the Temporal bridge, without interpreter finalization.

temporalio's Rust core finishes each awaited call with a task on tokio's blocking pool that
takes the GIL, and that task can still be pending after the awaiting coroutine has resumed.
When the call was the process's last one (the dev server's or a worker's shutdown), the
main thread can reach interpreter finalization first; CPython 3.11 then ends the tokio
thread inside PyGILState_Ensure, and PyO3's guard, unwinding, aborts the process:
"Fatal Python error: PyGILState_Release: thread state ... must be current when releasing",
exit 134, after all the output (temporalio/sdk-python#300). Nothing in Python can wait for
those threads, so entry points leave through `exit_after`: it runs the atexit handlers and
flushes stdout and stderr as a normal exit would, then calls os._exit, before finalization
can start.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

BRIDGE_MODULE = "temporalio.bridge.temporal_sdk_bridge"


def exit_after(main: Callable[[], object]) -> NoReturn:
    """Run main, then exit with the status `sys.exit(main())` would give.

    Non-daemon threads are not joined: call this once main's work is done.
    """
    _terminate_like_interrupt()
    code = _run(main)
    if BRIDGE_MODULE not in sys.modules:  # no Rust threads: the normal way is safe
        sys.exit(code)
    atexit._run_exitfuncs()  # logging.shutdown, pgserver's stop, weakref finalizers
    os._exit(_flush_std_streams(code))


def _terminate_like_interrupt() -> None:
    """SIGTERM (`kill`, a supervisor, CI's timeout) ends the process as Ctrl-C does:
    asyncio cancels the main task, so its `async with` blocks stop what they started (a
    Temporal dev server, engines, workers) instead of leaving them running. A process
    started in the background by a non-interactive shell inherits SIGINT ignored: raising
    SIGINT would then do nothing, so SIGTERM raises KeyboardInterrupt itself."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.default_int_handler(signum, frame)  # raises KeyboardInterrupt
    signal.raise_signal(signal.SIGINT)  # asyncio's handler cancels the main task


def _run(main: Callable[[], object]) -> int:
    try:
        result = main()
    except SystemExit as exc:
        return _status(exc.code)
    except KeyboardInterrupt:
        sys.excepthook(*sys.exc_info())
        return 130
    except BaseException:
        sys.excepthook(*sys.exc_info())
        return 1
    return _status(result)


def _status(code: object) -> int:
    """An exit status the way SystemExit reads one: None is 0, other non-ints are printed."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def _flush_std_streams(code: int) -> int:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed pipe or stream: CPython exits 120 then
            code = code or 120
    return code
