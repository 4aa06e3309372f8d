"""A collection run's progress as the waiting command shows it: its pieces' added up."""

from __future__ import annotations

from releaf_pipeline.launch import PROGRESS_TAG, run_progress


def test_progress_adds_up_the_pieces_that_have_started() -> None:
    assert run_progress({"releaf/trigger": "cli"}) is None
    tags = {
        f"{PROGRESS_TAG}.east_s1": "40/100",
        f"{PROGRESS_TAG}.west_s2_1of2": "5/50",
        f"{PROGRESS_TAG}.west_s2_2of2": "0/50",
        "releaf/run.requests": "12",
    }
    assert run_progress(tags) == (45, 200)


def test_a_malformed_progress_tag_is_ignored() -> None:
    assert run_progress({f"{PROGRESS_TAG}.x": "n/a", f"{PROGRESS_TAG}.y": "1/2"}) == (1, 2)
