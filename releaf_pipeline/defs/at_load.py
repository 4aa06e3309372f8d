"""The settings the definitions are built from, read once when the code location loads:
the partitions' start, the schedules' crons, the sensors' intervals and the executor.
Every process that loads the code (webserver, daemon, run workers, `releaf`) must see the
same values; what a run does is configured on its resources instead."""

from releaf_pipeline.settings import read_settings

SETTINGS_AT_LOAD = read_settings()
