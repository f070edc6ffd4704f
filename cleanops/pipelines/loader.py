"""Reading pipeline files: JSON or YAML, one pipeline each.

A bad file yields errors that name the file and the field; it never stops the other
pipelines (or the Dagster UI) from loading. A key the schema does not know is an error that
names the key, its line and the keys its block accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from cleanops import settings
from cleanops.pipelines import keys, rules
from cleanops.pipelines.parsing import DocumentError, key_line, read_document
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


def _document_path(location: tuple, document: object) -> list:
    """pydantic's error location as keys and indexes of the document the user wrote.

    For tagged unions pydantic puts the tag (a source's `type`, say) into the location;
    it is not a field the user wrote, so it is left out. So are the steps a shorthand adds:
    `quality: [rules]` stands for `quality: {rules: [...]}`, a single `joins: {...}` for a list.
    """
    path: list = []
    node = document
    for item in location:
        if isinstance(node, dict) and item not in node and node.get("type") == item:
            continue
        if (isinstance(node, list) and isinstance(item, str)) or (
                isinstance(node, dict) and isinstance(item, int) and item not in node):
            continue
        path.append(item)
        node = node[item] if isinstance(node, (dict, list)) and _has(node, item) else None
    return path


def _field_path(path: list) -> str:
    """A document path as the user would write it: `data_sources[0].connection`."""
    parts: list[str] = []
    for item in path:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
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
        return None, _schema_errors(path, error, document)
    loaded = LoadedPipeline(spec, path)
    errors = [PipelineError(path, field, message) for field, message in rules.problems(loaded.spec, loaded.base_dir)]
    return (None, errors) if errors else (loaded, [])


def _schema_errors(path: Path, error: ValidationError, document: dict) -> list[PipelineError]:
    text: list[str] = []  # the file's text, read once and only when a line is wanted

    def line_of(where: list) -> int | None:
        if not text:
            text.append(_text(path))
        return key_line(text[0], where) if text[0] else None

    found = []
    for item in error.errors():
        where = _document_path(item["loc"], document)
        found.append(PipelineError(path, _field_path(where), _schema_message(item, where, line_of)))
    return found


def _schema_message(item: dict, where: list, line_of) -> str:
    """pydantic's message, except for keys the schema does not know: those are named, with their line."""
    location = tuple(item["loc"])
    if item["type"] == keys.UNKNOWN_KEY_ERROR:
        return keys.unknown_key_message(location[-1], keys.known_keys(PipelineSpec, location[:-1]), line_of(where))
    if item["type"] == keys.MISSING_TAG_ERROR and isinstance(item["input"], dict):
        known = keys.union_keys(PipelineSpec, location)
        unknown = {key: line_of([*where, key]) for key in item["input"] if key not in known}
        return keys.missing_tag_message(unknown, known)
    return item["msg"]


def _text(path: Path) -> str:
    """The file's text again, to find a line in; "" when it cannot be read now."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


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
