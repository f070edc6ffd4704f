"""The progress display and the load's progress lines, without a database."""

import io

from cleanops.cli.progress import live_progress
from cleanops.ingestion.progress import LoadProgress, parse_progress, progress_line, reporting
from cleanops.ingestion.stage import LoadCounts


class Log:
    def __init__(self):
        self.lines = []

    def info(self, line):
        self.lines.append(line)


class Stager:
    table = "orders__export"

    def __init__(self):
        self.counts = LoadCounts()


def test_progress_lines_read_back_as_counts():
    counts = LoadCounts(records_read=1_000_000, records_staged=999_000, records_quarantined=1_000)
    assert parse_progress(progress_line("staging.orders__export", counts)) == LoadProgress(
        "staging.orders__export", 1_000_000, 999_000, 1_000)
    # the line a finished load logs reads the same way
    assert parse_progress("staging.t: read 5, staged 4, quarantined 1") == LoadProgress("staging.t", 5, 4, 1)
    assert parse_progress("Executing steps using multiprocess executor") is None


def test_a_load_reports_progress_at_most_once_per_interval():
    stager, log = Stager(), Log()
    chunks = reporting(range(1000), stager, log, every_seconds=3600)
    assert list(chunks) == list(range(1000)) and log.lines == []
    stager.counts.records_read = 42
    assert list(reporting(range(3), stager, log, every_seconds=0)) == [0, 1, 2]
    assert log.lines and all(parse_progress(line).records_read == 42 for line in log.lines)


def test_without_a_terminal_progress_is_a_few_plain_lines():
    stream = io.StringIO()
    with live_progress("orders", stream=stream, plain_interval=3600) as progress:
        for read in range(0, 100_000, 1_000):
            progress.update("loading staging.orders", read=read, staged=read, rejected=0)
        progress.update("dbt models")
        progress.print("done    dbt models")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4, lines  # the title, one line per step, the printed line
    assert lines[1].endswith("loading staging.orders: read 0, staged 0, rejected 0")
    assert lines[2].endswith("dbt models: read 99,000, staged 99,000, rejected 0")  # counts carry over
    assert lines[3] == "done    dbt models"


def test_a_bounded_task_shows_how_many_are_done():
    stream = io.StringIO()
    with live_progress("cleanup", total=3, stream=stream, plain_interval=0) as progress:
        for done in range(1, 4):
            progress.update("deleting runs", completed=done, reclaimed="1.2 MB")
    assert "deleting runs 3/3: reclaimed 1.2 MB" in stream.getvalue()
