"""A fatal error of the job is one log line and a documented exit code."""

from __future__ import annotations

import logging

import pytest

from streaming.exit_codes import ExitCode, run_to_exit_code
from streaming.preflight import PreflightFailed

PLAN = "\n".join(["=== Streaming Query ===", *(f"+- Project [column_{i}]" for i in range(500))])


def failing(error: BaseException):
    def run() -> int:
        raise error

    return run


def test_a_failed_query_is_one_error_line_without_the_plan_which_goes_to_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    error = RuntimeError(f"[PYTHON_EXCEPTION] foreachBatch raised NotFound: 404 bucket\n{PLAN}")

    code = run_to_exit_code(failing(error))

    assert code == ExitCode.FAILED
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        "stream failed error=RuntimeError: [PYTHON_EXCEPTION] foreachBatch raised NotFound: "
        "404 bucket"
    ]
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(debug) == 1 and debug[0].exc_info is not None
    assert debug[0].exc_info[1] is error  # the plan, in full, at DEBUG only


def test_a_missing_resource_exits_3_with_the_preflight_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    message = "missing Cloud Storage bucket gs://olist-lake: create them with `olist setup`"

    code = run_to_exit_code(failing(PreflightFailed(message)))

    assert code == ExitCode.MISSING_RESOURCES
    assert [r.getMessage() for r in caplog.records] == [f"stream cannot start: {message}"]


def test_the_codes_are_the_documented_ones() -> None:
    assert [(code.name, code.value) for code in ExitCode] == [
        ("OK", 0), ("FAILED", 1), ("BAD_SETTINGS", 2), ("MISSING_RESOURCES", 3),
    ]  # fmt: skip
