"""The job's exit codes, and the one log line a fatal error gets before the process exits.

- 0: stopped on SIGTERM/SIGINT between batches, or ``--available-now`` done;
- 1: the query or a sink failed (``stream failed error=...``): fix the cause, a restart resumes
  from the checkpoint;
- 2: invalid settings (``stream failed error=invalid configuration ...``): fix the named
  ``OLIST_*`` variable;
- 3: a resource is missing (``stream cannot start: missing ...``): run ``olist setup``.

The table for operators is in docs/operations/streaming.md#exit-codes.

A Spark error's message holds the query's whole logical plan (tens of kilobytes): the error
line carries its first line, the full text is logged at DEBUG.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable

log = logging.getLogger("streaming.job")


class ExitCode(enum.IntEnum):
    OK = 0
    FAILED = 1
    BAD_SETTINGS = 2
    MISSING_RESOURCES = 3


def first_line(error: BaseException) -> str:
    """``Type: first line of the message``, the part of a Spark error worth one log line."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else '(no message)'}"


def log_failure(error: BaseException) -> None:
    """One ERROR line for ``error``; its whole text and traceback at DEBUG."""
    log.error("stream failed error=%s", first_line(error))
    log.debug("stream failure in full", exc_info=error)


def run_to_exit_code(run: Callable[[], int]) -> int:
    """Call ``run``; a fatal error becomes one log line and its :class:`ExitCode`."""
    from pydantic import ValidationError

    from streaming.preflight import PreflightFailed

    try:
        return run()
    except PreflightFailed as error:
        log.error("stream cannot start: %s", error)
        return ExitCode.MISSING_RESOURCES
    except ValidationError as error:
        problems = "; ".join(
            f"OLIST_{'_'.join(str(part) for part in problem['loc']).upper()}: {problem['msg']}"
            for problem in error.errors()
        )
        log.error("stream failed error=invalid configuration: %s", problems)
        return ExitCode.BAD_SETTINGS
    except Exception as error:  # the process's last word, then a documented code
        log_failure(error)
        return ExitCode.FAILED
