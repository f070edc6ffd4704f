"""CleanOps pipelines as Dagster components.

- `cleanops.Pipeline`: one pipeline declared in a `defs.yaml`; its attributes are a pipeline
  file (the `PipelineSpec` schema), so `dg check yaml` and editors check them.
- `cleanops.PipelineFiles`: a folder of seed-format pipeline files (JSON or YAML); a bad file
  is logged and left out, never taking the code location down.

Both build the same definitions per pipeline (cleanops.components.build): ingestion assets,
GE checks, the job, the schedule and the sensors. The dbt models are not built here: the
transform area holds one project-wide @dbt_assets, prepared from the pipelines folder.
"""

from __future__ import annotations

import logging
import textwrap
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import BaseModel, ConfigDict, Field

from cleanops.pipelines.schema import PipelineSpec

logger = logging.getLogger("cleanops")


class PipelineScaffolder(dg.Scaffolder):
    """`dg scaffold defs cleanops.Pipeline <name>`: a small valid pipeline to edit."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        request.target_path.mkdir(parents=True, exist_ok=True)
        pipeline_id = request.target_path.name.replace("_", "-").lower()
        (request.target_path / "defs.yaml").write_text(scaffold_yaml(request.type_name, pipeline_id))


def scaffold_yaml(type_name: str, pipeline_id: str) -> str:
    return textwrap.dedent(f"""\
        # A CleanOps pipeline: `attributes` is a pipeline file (the format of docs/pipelines.md).
        # `dg check yaml` checks this file; `dg list defs` shows what it builds.
        type: {type_name}

        attributes:
          pipeline_id: {pipeline_id}  # unique; names the job, the asset group and the staging tables
          description: What this pipeline loads
          status: draft                     # active | paused | disabled | draft (draft: schedule off)
          schedule:
            type: cron                      # cron | event | manual
            expression: "0 3 * * *"
            timezone: UTC
            enabled: false
          data_sources:
            - id: export                    # staging table: staging.<pipeline>__<id>
              type: csv
              path: data/*.csv              # relative to this folder (a source root)
          transformations:
            - step: 1
              type: validation
              config:
                required_fields: [id]
                data_types:
                  id: integer
          # destinations:                   # a dbt model in marts; run `python -m cleanops.transform.prepare`
          #   - type: data_warehouse
          #     connection: analytics-dw
          #     table: my_table
          # depends_on: [other-pipeline-id] # pipelines of the pipelines folder (see docs/architecture.md)
        """)


def _defs_file(context: dg.ComponentLoadContext) -> Path:
    folder = Path(context.path)
    for name in ("defs.yaml", "component.yaml"):
        if (folder / name).is_file():
            return folder / name
    return folder


@dg.scaffold_with(PipelineScaffolder)
@dataclass
class Pipeline(dg.Component):
    """One CleanOps pipeline, declared in a defs.yaml whose attributes are a pipeline file.

    Builds the pipeline's ingestion assets, quality checks, job, schedule and sensors.
    `depends_on` resolves against the pipelines of the pipelines folder.
    """

    spec: PipelineSpec
    file: Path

    @classmethod
    def get_model_cls(cls) -> type[BaseModel]:
        from cleanops.components.json_schema import PipelineAttributes

        return PipelineAttributes

    @classmethod
    def load(cls, attributes: BaseModel | None, context: dg.ComponentLoadContext) -> Pipeline:
        if not isinstance(attributes, PipelineSpec):
            raise dg.DagsterInvalidDefinitionError(f"{_defs_file(context)}: `attributes` must hold a pipeline")
        return cls(spec=attributes, file=_defs_file(context))

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        from cleanops.components.declared import build_declared
        from cleanops.warehouse import location_resources

        return dg.Definitions.merge(build_declared(self.spec, self.file),
                                    dg.Definitions(resources=location_resources()))


class PipelineFilesModel(BaseModel):
    """Attributes of `cleanops.PipelineFiles`."""

    model_config = ConfigDict(extra="forbid")

    folder: str | None = Field(
        default=None,
        description="Folder of pipeline files (*.json, *.yaml), relative to the project root or absolute. "
                    "Default: CLEANOPS_PIPELINES_DIR, else the project's pipelines/ folder.")


@dataclass
class PipelineFiles(dg.Component):
    """Every pipeline file in a folder (the seed's JSON and YAML format, unmodified).

    A file with errors is logged and left out; the other pipelines load. `depends_on`
    between the folder's pipelines becomes asset dependencies.
    """

    folder: Path | None = None

    @classmethod
    def get_model_cls(cls) -> type[BaseModel]:
        return PipelineFilesModel

    @classmethod
    def load(cls, attributes: BaseModel | None, context: dg.ComponentLoadContext) -> PipelineFiles:
        folder = getattr(attributes, "folder", None)
        if folder is None:
            return cls()
        path = Path(folder).expanduser()
        return cls(folder=path if path.is_absolute() else Path(context.project_root) / path)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        from cleanops.components import location
        from cleanops.scheduling.definitions import warn_about_unknown_upstreams

        from cleanops.warehouse import location_resources

        built = location.checked_build(self.folder)
        warn_about_unknown_upstreams(built.result)
        return dg.Definitions.merge(built.definitions, dg.Definitions(resources=location_resources()))
