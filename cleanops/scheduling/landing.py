"""Landing folders of file-arrival pipelines: what is waiting, and where it goes after a load.

A file is "waiting" while it sits in the folder; after its run loads it, it moves to
`processed/` beside it, so the folder only ever holds work still to do. Names starting
with `.` or ending in `.tmp`/`.part` are in-flight uploads and are left alone (write to a
temporary name, then rename).
"""

from __future__ import annotations

import fnmatch
import glob
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cleanops import settings
from cleanops.pipelines.loader import LoadedPipeline
from cleanops.pipelines.schema import FileArrivalTrigger, FileSource

PROCESSED_FOLDER = "processed"
IN_FLIGHT_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")


@dataclass(frozen=True)
class LandingFolder:
    """Where a file-arrival trigger looks, and which source loads what it finds."""

    folder: Path
    pattern: str
    source: FileSource
    move_to_processed: bool

    def waiting_files(self) -> list[Path]:
        """Files that match the pattern, oldest first (so a burst is loaded in landing order)."""
        if not self.folder.is_dir():
            return []
        found = []
        for entry in os.scandir(self.folder):
            if entry.is_file() and _is_complete(entry.name) and fnmatch.fnmatch(entry.name, self.pattern):
                found.append((entry.stat().st_mtime_ns, entry.name))
        return [self.folder / name for _, name in sorted(found)]


def _is_complete(name: str) -> bool:
    return not name.startswith(".") and not name.endswith(IN_FLIGHT_SUFFIXES)


def expand(path: str) -> str:
    """`${CLEANOPS_HOME}/landing` and `~` in pipeline files, so a landing folder can live outside the repo.

    CLEANOPS_HOME means the same folder whether or not it is set (plain `dagster dev` leaves it unset)."""
    path = path.replace("${CLEANOPS_HOME}", str(settings.home()))
    return os.path.expanduser(os.path.expandvars(path))


def resolve(base_dir: Path, path: str) -> Path:
    candidate = Path(expand(path))
    return candidate if candidate.is_absolute() else base_dir / candidate


def file_source_for(pipeline: LoadedPipeline, trigger: FileArrivalTrigger) -> FileSource:
    sources = [s for s in pipeline.spec.data_sources if isinstance(s, FileSource)]
    if trigger.source:
        sources = [s for s in sources if s.id == trigger.source]
    if not sources:
        wanted = f"file source {trigger.source!r}" if trigger.source else "a file source"
        raise ValueError(f"pipeline {pipeline.spec.pipeline_id!r}: its file_arrival trigger needs {wanted}")
    return sources[0]


def landing_folder(pipeline: LoadedPipeline, trigger: FileArrivalTrigger) -> LandingFolder:
    """The folder and pattern to watch: the trigger's own, else those of the source's glob."""
    source = file_source_for(pipeline, trigger)
    source_glob = resolve(pipeline.base_dir, source.path)
    folder = resolve(pipeline.base_dir, trigger.path) if trigger.path else source_glob.parent
    pattern = trigger.pattern or (source_glob.name if glob.has_magic(source_glob.name) else "*")
    return LandingFolder(folder, pattern, source, trigger.move_to_processed)


def file_arrival_triggers(pipeline: LoadedPipeline) -> list[FileArrivalTrigger]:
    return [t for t in pipeline.spec.schedule.triggers if isinstance(t, FileArrivalTrigger)]


def move_to_processed(path: Path) -> Path:
    """Move a loaded file out of the landing folder; a name already taken gets a numbered suffix."""
    target_dir = path.parent / PROCESSED_FOLDER
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    counter = 1
    while target.exists():
        target = target_dir / f"{path.stem}.{counter}{path.suffix}"
        counter += 1
    shutil.move(str(path), target)
    return target


def should_move_after_load(pipeline: LoadedPipeline, source: FileSource, path: Path) -> bool:
    """Only files that came in through a landing folder with `move_to_processed` are moved."""
    for trigger in file_arrival_triggers(pipeline):
        landing = landing_folder(pipeline, trigger)
        if landing.source.id == source.id and landing.move_to_processed and path.parent == landing.folder:
            return True
    return False
