"""harness.pipeline without servers: names, environment, failures. With servers, the
end-to-end tests (tests/pipeline/) use every part of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.pipeline import CommandFailed, LocalPipeline, ServerMissing


def test_a_namespace_gives_the_pipeline_names_of_its_own(tmp_path: Path) -> None:
    with LocalPipeline(tmp_path, namespace="e2e-7") as pipeline:
        assert pipeline.variables == {
            "OLIST_GCP_PROJECT": "olist-local",
            "OLIST_PUBSUB_TOPIC": "e2e-7-events",
            "OLIST_PUBSUB_SUBSCRIPTION": "e2e-7-stream",
            "OLIST_PUBSUB_DEAD_LETTER_TOPIC": "e2e-7-dead",
            "OLIST_PUBSUB_DEAD_LETTER_SUBSCRIPTION": "e2e-7-dead-inspect",
            "OLIST_BIGQUERY_DATASET": "olist_e2e_7",
            "OLIST_STREAM_WARMUP": "false",
        }
        assert pipeline.bucket == "olist-e2e-7"
        assert (
            pipeline.table("order_events_rejected")
            == "`olist-local.olist_e2e_7.order_events_rejected`"
        )


def test_a_local_jobs_start_up_warm_up_is_off_unless_the_variable_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LocalPipeline(tmp_path) as pipeline:
        assert pipeline.env["OLIST_STREAM_WARMUP"] == "false"
    monkeypatch.setenv("OLIST_STREAM_WARMUP", "true")
    with LocalPipeline(tmp_path) as pipeline:
        assert "OLIST_STREAM_WARMUP" not in pipeline.variables
        assert pipeline.env["OLIST_STREAM_WARMUP"] == "true"


def test_without_a_namespace_the_names_are_the_settings_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOME_SHELL_VARIABLE", "kept")
    pipeline = LocalPipeline(tmp_path)
    pipeline.use_database("postgresql://olist@127.0.0.1:5/olist")
    assert pipeline.variables == {
        "OLIST_GCP_PROJECT": "olist-local",
        "OLIST_DATABASE_URL": "postgresql://olist@127.0.0.1:5/olist",
        "OLIST_STREAM_WARMUP": "false",
    }
    assert (pipeline.bucket, pipeline.table()) == ("olist-lake", "`olist-local.olist.order_events`")
    assert pipeline.env["SOME_SHELL_VARIABLE"] == "kept"
    assert pipeline.env["OLIST_DATABASE_URL"] == "postgresql://olist@127.0.0.1:5/olist"


def test_a_failed_command_raises_with_its_exit_code_and_log(tmp_path: Path) -> None:
    with LocalPipeline(tmp_path) as pipeline:
        with pytest.raises(CommandFailed, match=r"olist no-such-command exited 2:\n") as failed:
            pipeline.run("wrong", "no-such-command", timeout=120)
        assert "No such command 'no-such-command'" in str(failed.value)  # the log's tail
        assert pipeline.run("wrong-again", "no-such-command", timeout=120, check=False) == 2
        assert "No such command" in pipeline.log_path("wrong-again").read_text()


def test_a_step_without_its_server_names_the_server(tmp_path: Path) -> None:
    with LocalPipeline(tmp_path) as pipeline:
        with pytest.raises(ServerMissing, match="needs the BigQuery emulator"):
            pipeline.query("SELECT 1")
        with pytest.raises(ServerMissing, match="needs a Cloud Storage server"):
            pipeline.start_bigquery()
        with pytest.raises(ServerMissing, match="needs a Cloud Storage server"):
            pipeline.lake_rows()
