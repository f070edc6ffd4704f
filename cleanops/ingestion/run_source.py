"""What a run changes about a source before loading it: the landed files, paths, chunk sizes.

Called from the ingestion asset, so a sensor run, a scheduled run and `cleanops pipelines
run` all load through the same `load_source`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cleanops.pipelines.loader import LoadedPipeline
from cleanops.pipelines.schema import FileSource, SqlSource
from cleanops.scheduling import landing
from cleanops.scheduling.policy import sql_chunk_size


@contextmanager
def source_for_run(pipeline: LoadedPipeline, source, landed_files: list[str]) -> Iterator:
    """The source as this run reads it.

    A file-arrival run loads exactly the files its sensor saw, never the whole glob. Several
    files are linked into a hidden batch folder next to them so that one `load_source` (one
    transaction, one execution-log entry) stages them all; the folder goes away afterwards.
    """
    if isinstance(source, SqlSource):
        yield source.model_copy(update={"chunk_size": sql_chunk_size(pipeline.spec, source.chunk_size)})
    elif isinstance(source, FileSource) and len(landed_files) > 1:
        with _batch_folder([Path(f) for f in landed_files]) as folder:
            yield source.model_copy(update={"path": str(folder / "*")})
    elif isinstance(source, FileSource):
        yield source.model_copy(update={"path": landed_files[0] if landed_files else landing.expand(source.path)})
    else:
        yield source


@contextmanager
def _batch_folder(files: list[Path]) -> Iterator[Path]:
    folder = files[0].parent / f".batch-{uuid.uuid4().hex[:12]}"
    folder.mkdir()
    try:
        for path in files:
            try:
                os.link(path, folder / path.name)
            except OSError:  # another file system, or links not allowed
                shutil.copy2(path, folder / path.name)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def after_load(pipeline: LoadedPipeline, source, landed_files: list[str], log=None) -> None:
    """Move landed files to `processed/` once their load committed (the file ledger keeps them from loading twice)."""
    if not landed_files or not isinstance(source, FileSource):
        return
    for landed in landed_files:
        path = Path(landed)
        if path.exists() and landing.should_move_after_load(pipeline, source, path):
            target = landing.move_to_processed(path)
            if log:
                log.info(f"moved {path.name} to {target.parent}")
