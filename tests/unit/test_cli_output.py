"""The shared output helpers of the ``lienthong`` commands (hub/entrypoints/cli_output.py)."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

from hub.entrypoints.cli_output import Progress, batches, print_json
from hub.entrypoints.cli_queues import _age


def test_progress_draws_in_place_on_a_terminal_and_ends_the_line() -> None:
    out = io.StringIO()
    with Progress("import", 4, stream=out, every_s=0.0, enabled=True) as bar:
        assert list(bar.iterate("abcd")) == ["a", "b", "c", "d"]
    text = out.getvalue()
    assert text.count("\r") == 5  # one redraw per item and the final one
    assert text.endswith(f"\rimport [{'#' * Progress.WIDTH}] 4/4\n")
    assert "\rimport [" + "#" * (Progress.WIDTH // 4) + "." in text


def test_progress_is_silent_off_a_terminal() -> None:
    out = io.StringIO()  # not a TTY
    with Progress("redrive", 3, stream=out) as bar:
        bar.advance(3)
    assert (out.getvalue(), bar.done) == ("", 3)


def test_batches_and_ages() -> None:
    assert [list(b) for b in batches(list(range(5)), 2)] == [[0, 1], [2, 3], [4]]
    assert [_age(s) for s in (None, 0, 59, 61, 3600 * 3 + 420, 86400 * 2 + 3600 * 4)] == [
        "-",
        "0s",
        "59s",
        "1m01s",
        "3h07m",
        "2d04h",
    ]


def test_print_json_keeps_vietnamese_and_writes_times_as_iso() -> None:
    import datetime as dt

    out = io.StringIO()
    at = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    print_json({"tên": "Ủy ban", "at": at}, out)
    assert "Ủy ban" in out.getvalue()
    assert json.loads(out.getvalue()) == {"tên": "Ủy ban", "at": "2026-01-02T03:04:05+00:00"}


def test_a_batch_that_raced_a_worker_is_done_again_and_other_conflicts_raise() -> None:
    import pytest

    from hub.entrypoints import cli_ops
    from hub.errors import Conflict

    calls: list[list[str]] = []

    def act(chunk: Sequence[str]) -> list[str]:
        calls.append(list(chunk))
        if len(calls) == 1:
            raise Conflict("moved meanwhile", code="delivery.raced")
        return [i for i in calls[-1] if i != "gone"]

    ids = [f"d{n}" for n in range(cli_ops.BATCH)] + ["gone"]
    assert cli_ops._in_batches("redrive", ids, act) == ids[:-1]
    assert [len(c) for c in calls] == [cli_ops.BATCH, cli_ops.BATCH, 1]  # first batch twice

    def always(chunk: Sequence[str]) -> list[str]:
        raise Conflict("moved meanwhile", code="delivery.raced")

    with pytest.raises(Conflict):
        cli_ops._in_batches("redrive", ["x"], always)

    def other(chunk: Sequence[str]) -> list[str]:
        raise Conflict("something else", code="agency.code_taken")

    with pytest.raises(Conflict, match="something else"):
        cli_ops._in_batches("redrive", ["x"], other)
