"""The code location's name and module are written where Dagster's tools read them
(workspace.yaml, pyproject.toml for `dagster` and `dg`, the demo's workspace) and once in
the code (`launch.CODE_LOCATION`, `launch.DEFINITIONS_MODULE`): all must agree, or runs
started by `releaf` are filed under another location than the UI serves."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

from releaf_pipeline.demo import write_workspace
from releaf_pipeline.launch import CODE_LOCATION, DEFINITIONS_MODULE

REPO = Path(__file__).resolve().parents[1]


def _workspace(path: Path) -> tuple[str, str]:
    (entry,) = yaml.safe_load(path.read_text())["load_from"]
    module = entry["python_module"]
    return module["location_name"], module["module_name"]


def test_every_place_names_the_code_location_as_the_code_does(tmp_path: Path) -> None:
    expected = (CODE_LOCATION, DEFINITIONS_MODULE)
    assert _workspace(REPO / "workspace.yaml") == expected
    assert _workspace(write_workspace(tmp_path)) == expected
    tools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]
    assert (tools["dagster"]["code_location_name"], tools["dagster"]["module_name"]) == expected
    project = tools["dg"]["project"]
    assert (project["code_location_name"], project["code_location_target_module"]) == expected
