"""Server health as Dagster runs it: the `fleet_health` asset, whose materialization pings
every server and stores its health, the `server_health` job that materializes it, and the
schedule that runs that job every RELEAF_HEALTH_CHECK_SECONDS (rounded up to a minute)."""

import asyncio
import math

import dagster as dg

from releaf_pipeline.defs.at_load import SETTINGS_AT_LOAD
from releaf_pipeline.defs.collection.publish import publish_runless
from releaf_pipeline.defs.health.fleet import (
    FLEET_HEALTH,
    current_fleet,
    fleet_check_specs,
    fleet_result,
    fleet_summary,
)
from releaf_pipeline.defs.logs import safe_log
from releaf_pipeline.defs.metadata import OWNERS
from releaf_pipeline.defs.resources import (
    ClockResource,
    MPSMonitorResource,
    RulesResource,
    StoreResource,
)
from releaf_pipeline.launch import TRIGGER_TAG

SERVER_HEALTH_JOB = "server_health"


@dg.asset(
    group_name="health",
    owners=OWNERS,
    kinds={"python"},
    tags={"cadence": "continuous"},
    check_specs=fleet_check_specs,
    description=(
        "Every MPS Monitor server and every feed in trouble: state, since when, why, and what "
        "the pipeline will do next. Materialized by the server_health job, which pings every "
        "server first; recorded again by each collection run and each change an operator "
        "makes (`releaf server ...`, `releaf feed ...`). Its checks fail while a server is "
        "unhealthy (ERROR) or a feed is failing or stale (WARN)."
    ),
)
def fleet_health(
    context: dg.AssetExecutionContext,
    store: StoreResource,
    mpsmonitor: MPSMonitorResource,
    clock: ClockResource,
    rules: RulesResource,
) -> dg.MaterializeResult:
    """Ping every registered server with its token and store its health: a server that
    fails is unhealthy at once, and collection pauses its feeds until it passes again (the
    catch-up then collects the paused days). Then the fleet as it stands, judged by the
    checks."""
    # The client (httpx) is loaded when a check runs, not with the code location.
    from releaf_pipeline.lib.server_checks import check_servers

    engine = store.engine()
    check = check_servers(
        engine, store.cipher(), settings=mpsmonitor.settings(), now=clock.now,
        client_factory=mpsmonitor.client,
    )  # fmt: skip
    checks = asyncio.run(check)
    for c in checks:
        if c.changed:
            state = "healthy again" if c.healthy else f"UNHEALTHY: {c.reason}"
            safe_log(context).warning(f"server {c.server} is {state}")
    if any(c.changed for c in checks):
        # A server's health decides what happens next to its feeds' missed days, which
        # their checks say: shown at once, not when a run next covers them.
        publish_runless(context.instance, engine, rules.judged(clock.now().date()))
    fleet = current_fleet(engine, clock.now().date(), rules)
    safe_log(context).info(f"{len(checks)} server(s) checked; {fleet_summary(fleet)}")
    return fleet_result(fleet)


server_health_job = dg.define_asset_job(
    SERVER_HEALTH_JOB,
    selection=dg.AssetSelection.assets(FLEET_HEALTH),
    description="Pings every MPS Monitor server, stores its health, and records fleet_health.",
)


def health_check_cron(seconds: int) -> str:
    """The cron of a check every `seconds`: a cron's step is a minute, so it is rounded up
    to whole minutes, and to whole hours past an hour."""
    minutes = max(1, math.ceil(seconds / 60))
    if minutes == 1:
        return "* * * * *"
    if minutes < 60:
        return f"*/{minutes} * * * *"
    hours = math.ceil(minutes / 60)
    if hours == 1:
        return "0 * * * *"
    return f"0 */{hours} * * *" if hours < 24 else "0 0 * * *"


@dg.schedule(
    name=SERVER_HEALTH_JOB,
    job=server_health_job,
    cron_schedule=health_check_cron(SETTINGS_AT_LOAD.health_check_seconds),
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Runs the server_health job every RELEAF_HEALTH_CHECK_SECONDS, rounded up to a minute."
    ),
)
def server_health_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """One health check per tick."""
    return dg.RunRequest(tags={TRIGGER_TAG: "server-health"})
