"""Reading pipeline files: JSON or YAML, one pipeline each.

A bad file yields errors that name the file and the field; it never stops the other
pipelines (or the Dagster UI) from loading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from cleanops import settings
from cleanops.pipelines import rules
from cleanops.pipelines.parsing import DocumentError, read_document
from cleanops.pipelines.schema import PipelineSpec

PIPELINE_SUFFIXES = (".json", ".yaml", ".yml")


@dataclass(frozen=True)
class PipelineError:
    file: Path
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else str(self.file)
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class LoadedPipeline:
    spec: PipelineSpec
    file: Path

    @property
    def base_dir(self) -> Path:
        """Relative source paths resolve against the pipeline file's folder."""
        return self.file.parent


@dataclass
class LoadResult:
    pipelines: list[LoadedPipeline] = field(default_factory=list)
    errors: list[PipelineError] = field(default_factory=list)

    def by_id(self, pipeline_id: str) -> LoadedPipeline:
        for pipeline in self.pipelines:
            if pipeline.spec.pipeline_id == pipeline_id:
                return pipeline
        known = ", ".join(p.spec.pipeline_id for p in self.pipelines) or "none"
        raise KeyError(f"no pipeline {pipeline_id!r} (known: {known})")


def _field_path(location: tuple, document: object) -> str:
    """pydantic's error location as the user wrote it: `data_sources[0].connection`.

    For tagged unions pydantic puts the tag (a source's `type`, say) into the location;
    it is not a field the user wrote, so it is left out.
    """
    parts: list[str] = []
    node = document
    for item in location:
        if isinstance(node, dict) and item not in node and node.get("type") == item:
            continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
        node = node[item] if isinstance(node, (dict, list)) and _has(node, item) else None
    return "".join(parts)


def _has(node, item) -> bool:
    if isinstance(node, dict):
        return item in node
    return isinstance(item, int) and 0 <= item < len(node)


def load_file(path: Path) -> tuple[LoadedPipeline | None, list[PipelineError]]:
    """Parse and validate one pipeline file, with the rules its build will apply."""
    path = Path(path).resolve()
    try:
        document = read_document(path)
    except FileNotFoundError:
        return None, [PipelineError(path, "", "file not found")]
    except OSError as error:
        return None, [PipelineError(path, "", f"cannot read the file: {error.strerror or error}")]
    except DocumentError as error:
        return None, [PipelineError(path, error.key or "", str(error))]
    if not isinstance(document, dict):
        return None, [PipelineError(path, "", "the file must hold one pipeline object")]
    try:
        spec = PipelineSpec.model_validate(document)
    except ValidationError as error:
        return None, [
            PipelineError(path, _field_path(item["loc"], document), item["msg"]) for item in error.errors()
        ]
    loaded = LoadedPipeline(spec, path)
    errors = [PipelineError(path, field, message) for field, message in rules.problems(loaded.spec, loaded.base_dir)]
    return (None, errors) if errors else (loaded, [])


def discover_files(folder: Path | None = None) -> list[Path]:
    folder = folder or settings.pipelines_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in PIPELINE_SUFFIXES and p.is_file())


def load_files(files: list[Path]) -> LoadResult:
    """Every file's pipeline; a file whose names another file already claims (pipeline id, staging
    table, destination) is an error on the later file, naming the field."""
    result = LoadResult()
    claims = rules.Claims()
    for path in files:
        loaded, errors = load_file(path)
        result.errors.extend(errors)
        if loaded is None:
            continue
        clashes = claims.clashes(loaded.spec, loaded.file)
        if clashes:
            result.errors.extend(PipelineError(loaded.file, field, message) for field, message in clashes)
            continue
        claims.claim(loaded.spec, loaded.file)
        result.pipelines.append(loaded)
    return result


def load_pipelines(folder: Path | None = None) -> LoadResult:
    """Every pipeline in the pipelines folder, with the errors of the files that failed."""
    return load_files(discover_files(folder))
