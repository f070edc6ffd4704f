"""Rules a pipeline must meet to be built, checked when its file loads.

The schema says what a file may contain; these rules say whether what it names can exist:
staging tables within PostgreSQL's 63 characters and distinct, files inside the source
roots, destinations in destination schemas and claimed by one pipeline only. `cleanops
pipelines validate` and the code location load files through the same loader, so a file
that validates builds, and a file that would not build is reported instead of crashing the
code location.

Each problem is `(field, message)`, the field written as the user wrote it
(`data_sources[1].id`), so errors name the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cleanops.pipelines import boundaries
from cleanops.pipelines.naming import staging_table_name
from cleanops.pipelines.schema import FileArrivalTrigger, FileSource, PipelineSpec

Problem = tuple[str, str]


def problems(spec: PipelineSpec, base_dir: Path) -> list[Problem]:
    return [*_staging_problems(spec), *_source_path_problems(spec, base_dir), *_trigger_problems(spec, base_dir),
            *_destination_problems(spec)]


def staging_tables(spec: PipelineSpec) -> dict[str, str]:
    """Staging table name → the field of the source that names it (only names that are valid)."""
    tables: dict[str, str] = {}
    for index, source in enumerate(spec.data_sources):
        try:
            tables.setdefault(staging_table_name(spec.slug, source.id), f"data_sources[{index}].id")
        except ValueError:
            continue
    return tables


def destination_relations(spec: PipelineSpec) -> dict[str, str]:
    """`schema.table` (lower case, as PostgreSQL compares them) → the field that names it."""
    relations: dict[str, str] = {}
    for index, destination in enumerate(spec.destinations):
        relations.setdefault(destination.relation.lower(), f"destinations[{index}].table")
    return relations


def _staging_problems(spec: PipelineSpec) -> list[Problem]:
    found, seen = [], {}
    for index, source in enumerate(spec.data_sources):
        where = f"data_sources[{index}].id"
        try:
            name = staging_table_name(spec.slug, source.id)
        except ValueError as error:
            found.append((where, f"{error} (pipeline_id {spec.pipeline_id!r} is {len(spec.pipeline_id)} "
                                 f"characters, source id {source.id!r} is {len(source.id)})"))
            continue
        if name in seen:
            found.append((where, f"source id {source.id!r} and {seen[name]!r} both become staging table {name!r}"))
        seen.setdefault(name, source.id)
    return found


def _source_path_problems(spec: PipelineSpec, base_dir: Path) -> list[Problem]:
    found = []
    for index, source in enumerate(spec.data_sources):
        if isinstance(source, FileSource):
            problem = boundaries.source_path_problem(source.path, base_dir)
            if problem:
                found.append((f"data_sources[{index}].path", problem))
    return found


def _trigger_problems(spec: PipelineSpec, base_dir: Path) -> list[Problem]:
    """A file_arrival trigger watches a folder inside the source roots and loads through a file source."""
    found = []
    file_sources = [s.id for s in spec.data_sources if isinstance(s, FileSource)]
    for index, trigger in enumerate(spec.schedule.triggers):
        if not isinstance(trigger, FileArrivalTrigger):
            continue
        where = f"schedule.triggers[{index}]"
        if trigger.path:
            problem = boundaries.source_path_problem(trigger.path, base_dir)
            if problem:
                found.append((f"{where}.path", problem))
        if trigger.source and trigger.source not in file_sources:
            found.append((f"{where}.source", f"{trigger.source!r} is not a file source of this pipeline "
                                             f"(file sources: {', '.join(file_sources) or 'none'})"))
        elif not file_sources:
            found.append((f"{where}.type", "a file_arrival trigger needs a file source (csv, json, jsonl, parquet)"))
    return found


def _destination_problems(spec: PipelineSpec) -> list[Problem]:
    found, seen = [], {}
    for index, destination in enumerate(spec.destinations):
        where = f"destinations[{index}].table"
        problem = boundaries.destination_problem(destination.table)
        if problem:
            found.append((where, problem))
            continue
        relation = destination.relation.lower()
        if relation in seen:
            found.append((where, f"{relation} is already the destination {seen[relation]}"))
        seen.setdefault(relation, where)
    return found


@dataclass
class Claims:
    """Names pipelines own in Dagster and the warehouse; the first file to claim a name keeps it."""

    pipeline_ids: dict[str, Path] = field(default_factory=dict)
    slugs: dict[str, Path] = field(default_factory=dict)
    staging: dict[str, Path] = field(default_factory=dict)
    destinations: dict[str, Path] = field(default_factory=dict)

    def clashes(self, spec: PipelineSpec, file: Path) -> list[Problem]:
        if spec.pipeline_id in self.pipeline_ids:
            return [("pipeline_id", f"{spec.pipeline_id!r} is already defined in {self.pipeline_ids[spec.pipeline_id]}")]
        if spec.slug in self.slugs:
            return [("pipeline_id", f"{spec.pipeline_id!r} becomes {spec.slug!r} as a SQL name, as the pipeline "
                                    f"in {self.slugs[spec.slug]} does")]
        found = [(where, f"staging table {name!r} already belongs to the pipeline in {self.staging[name]}")
                 for name, where in staging_tables(spec).items() if name in self.staging]
        found += [(where, f"{relation} is already the destination of the pipeline in {self.destinations[relation]}")
                  for relation, where in destination_relations(spec).items() if relation in self.destinations]
        return found

    def claim(self, spec: PipelineSpec, file: Path) -> None:
        self.pipeline_ids[spec.pipeline_id] = file
        self.slugs[spec.slug] = file
        self.staging.update(dict.fromkeys(staging_tables(spec), file))
        self.destinations.update(dict.fromkeys(destination_relations(spec), file))
