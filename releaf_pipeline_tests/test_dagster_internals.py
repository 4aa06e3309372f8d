"""The names taken from Dagster's private modules still mean what the pipeline needs: an
upgrade that moves or changes one fails here, naming it, before any run does."""

from datetime import UTC, datetime

import dagster as dg
import pytest

from releaf_pipeline import dagster_internals as internals


def test_partition_range_tags_are_the_single_run_backfill_tags() -> None:
    assert internals.ASSET_PARTITION_RANGE_START_TAG == "dagster/asset_partition_range_start"
    assert internals.ASSET_PARTITION_RANGE_END_TAG == "dagster/asset_partition_range_end"


def test_check_target_materialization_takes_a_storage_id_a_run_and_a_time() -> None:
    target = internals.AssetCheckEvaluationTargetMaterializationData(
        storage_id=7, run_id="r", timestamp=1.0
    )
    evaluation = dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("a"),
        check_name="c",
        passed=True,
        partition="2026-11-01",
        target_materialization_data=target,
    )
    assert evaluation.target_materialization_data.storage_id == 7


@pytest.mark.parametrize(
    ("cron", "after", "tick"),
    [
        (
            "0 2 * * *",
            datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC),
            datetime(2026, 12, 1, 2, tzinfo=UTC),
        ),
        ("30 1 * * 1", datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 7, 1, 30, tzinfo=UTC)),
    ],
)
def test_cron_ticks_as_the_daemon_computes_them(cron: str, after: datetime, tick: datetime) -> None:
    assert internals.is_valid_cron(cron)
    assert internals.next_cron_tick(cron, after) == tick


def test_cron_parser_refuses_what_the_daemon_refuses() -> None:
    assert not internals.is_valid_cron("61 2 * * *")
    # settings.py reads this ValueError as "the cron names no date that exists".
    with pytest.raises(ValueError, match="failed to find"):
        internals.next_cron_tick("0 2 31 2 *", datetime(2026, 1, 1, tzinfo=UTC))


def test_a_partition_check_result_can_be_reported_outside_a_run_again_and_again(
    tmp_path,
) -> None:
    key = dg.AssetCheckKey(dg.AssetKey("a"), "c")

    def result(passed: bool) -> dg.AssetCheckEvaluation:
        return dg.AssetCheckEvaluation(
            asset_key=key.asset_key, check_name=key.name, passed=passed, partition="2026-11-01"
        )

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.report_runless_asset_event(result(True))
        # Dagster's own runless report keeps one result per partition: when this stops
        # failing, `report_check_evaluation` can give way to it.
        with pytest.raises(Exception, match="UNIQUE"):
            instance.report_runless_asset_event(result(False))
        internals.report_check_evaluation(instance, result(False), internals.new_report_id())
        internals.report_check_evaluation(instance, result(True), internals.new_report_id())
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
    # Newest first, as the UI reads them: the latest report is the partition's result.
    assert [h.event.dagster_event.event_specific_data.passed for h in history] == [
        True,
        False,
        True,
    ]


def test_the_default_instance_file_launches_runs_at_once(tmp_path) -> None:
    from releaf_pipeline.launch import DEFAULT_INSTANCE_YAML

    (tmp_path / "dagster.yaml").write_text(DEFAULT_INSTANCE_YAML)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_coordinator).__name__ == "SyncInMemoryRunCoordinator"
        assert isinstance(instance.run_launcher, dg.DefaultRunLauncher)


def test_the_in_process_instance_file_executes_runs_in_the_submitting_process(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    from releaf_pipeline_tests.instances import (
        IN_PROCESS_INSTANCE_YAML,
        NO_COMPUTE_LOGS_YAML,
        one_file_event_log_yaml,
    )

    (tmp_path / "dagster.yaml").write_text(
        IN_PROCESS_INSTANCE_YAML + NO_COMPUTE_LOGS_YAML + one_file_event_log_yaml(tmp_path)
    )
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_coordinator).__name__ == "SyncInMemoryRunCoordinator"
        assert type(instance.run_launcher).__name__ == "SyncInMemoryRunLauncher"
        assert type(instance.compute_log_manager).__name__ == "NoOpComputeLogManager"
        assert type(instance.event_log_storage).__name__ == "ConsolidatedSqliteEventLogStorage"
    assert (tmp_path / "history" / "events" / "event_log.db").is_file()


def test_the_job_kept_from_the_last_run_can_be_forgotten() -> None:
    # Fails with AttributeError once an upgrade renames the cached methods.
    from releaf_pipeline.dagster_internals import forget_loaded_jobs

    forget_loaded_jobs()
