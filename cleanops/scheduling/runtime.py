"""What a run changes about a source before loading it: the landed file, paths, chunk sizes.

Called from the ingestion asset, so a sensor run, a scheduled run and `cleanops pipelines
run` all load through the same `load_source`.
"""

from __future__ import annotations

from pathlib import Path

from cleanops.pipelines.loader import LoadedPipeline
from cleanops.pipelines.schema import FileSource, SqlSource
from cleanops.scheduling import landing
from cleanops.scheduling.policy import sql_chunk_size


def source_for_run(pipeline: LoadedPipeline, source, landed_file: str | None):
    """The source as this run reads it.

    A file-arrival run loads exactly the file its sensor saw (an absolute path), never
    the whole glob, so twenty files landing together make twenty runs of one file each.
    """
    if isinstance(source, FileSource):
        path = landed_file or landing.expand(source.path)
        return source.model_copy(update={"path": path})
    if isinstance(source, SqlSource):
        return source.model_copy(update={"chunk_size": sql_chunk_size(pipeline.spec, source.chunk_size)})
    return source


def after_load(pipeline: LoadedPipeline, source, landed_file: str | None, log=None) -> None:
    """Move a landed file to `processed/` once its load committed (the file ledger keeps it from loading twice)."""
    if not landed_file or not isinstance(source, FileSource):
        return
    path = Path(landed_file)
    if path.exists() and landing.should_move_after_load(pipeline, source, path):
        target = landing.move_to_processed(path)
        if log:
            log.info(f"moved {path.name} to {target.parent}")
