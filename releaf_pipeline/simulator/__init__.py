"""The MPS Monitor simulator: a seeded fleet served over HTTPS, for the demo and the tests."""

from releaf_pipeline.simulator.fleet import *  # noqa: F403
from releaf_pipeline.simulator.server import *  # noqa: F403
