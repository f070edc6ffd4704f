"""`cleanops lineage ASSET`: where a table comes from and what it feeds, from the Dagster asset graph."""

from __future__ import annotations

import click

from cleanops.cli.output import echo_json


def resolve_key(graph, name: str):
    """`marts/processed_users`, or a unique last part such as `processed_users`."""
    import dagster as dg

    keys = list(graph.get_all_asset_keys())
    wanted = dg.AssetKey.from_user_string(name.replace(".", "/"))
    if wanted in keys:
        return wanted
    matches = [k for k in keys if k.path[-1] == name]
    if len(matches) == 1:
        return matches[0]
    hint = ", ".join(k.to_user_string() for k in matches) or "none"
    raise click.ClickException(f"no single asset named {name!r} (matches: {hint})")


def walk(graph, key, direction: str, depth: int = 0, seen: set | None = None) -> list[dict]:
    """Depth-first list of (depth, key) pairs up or down the graph, each key once."""
    seen = seen if seen is not None else {key}
    node = graph.get(key)
    neighbours = node.parent_keys if direction == "upstream" else node.child_keys
    rows = []
    for neighbour in sorted(neighbours, key=lambda k: k.to_user_string()):
        if neighbour in seen:
            continue
        seen.add(neighbour)
        rows.append({"depth": depth + 1, "asset": neighbour.to_user_string(), "group": _group(graph, neighbour),
                     "checks": _checks(graph, neighbour)})
        rows += walk(graph, neighbour, direction, depth + 1, seen)
    return rows


def _group(graph, key) -> str | None:
    try:
        return graph.get(key).group_name
    except Exception:
        return None


def _checks(graph, key) -> list[str]:
    return sorted(c.name for c in graph.asset_check_keys if c.asset_key == key)


def column_lineage(key) -> dict | None:
    """dbt's column-level lineage from the asset's latest materialization, when dagster-dbt recorded it."""
    try:
        import dagster as dg

        from cleanops.db import connection

        connection.apply_environment()
        with dg.DagsterInstance.get() as instance:
            event = instance.get_latest_materialization_event(key)
    except Exception:
        return None
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get("dagster/column_lineage")
    lineage = getattr(value, "value", value)
    if lineage is None:
        return None
    return {column: [f"{d.asset_key.to_user_string()}.{d.column_name}" for d in deps]
            for column, deps in lineage.deps_by_column.items()}


@click.command()
@click.argument("asset")
@click.option("--upstream", "direction", flag_value="upstream", help="Only what the asset is built from.")
@click.option("--downstream", "direction", flag_value="downstream", help="Only what is built from the asset.")
@click.option("--columns/--no-columns", default=True, help="Show dbt's column lineage when recorded.")
@click.option("--json", "as_json", is_flag=True)
def lineage(asset: str, direction: str | None, columns: bool, as_json: bool) -> None:
    """Upstream and downstream assets (sources, staged tables, dbt models, checks) of ASSET."""
    from cleanops.definitions import build_definitions

    graph = build_definitions().resolve_asset_graph()
    key = resolve_key(graph, asset)
    directions = [direction] if direction else ["upstream", "downstream"]
    result = {"asset": key.to_user_string(), "group": _group(graph, key), "checks": _checks(graph, key)}
    for d in directions:
        result[d] = walk(graph, key, d)
    if columns:
        result["columns"] = column_lineage(key)
    if as_json:
        echo_json(result)
        return
    _print(result, directions)


def _print(result: dict, directions: list[str]) -> None:
    click.echo(f"{result['asset']}  (group {result['group']}; checks: {', '.join(result['checks']) or 'none'})")
    for d in directions:
        click.echo(f"{d}:")
        for row in result[d] or [{"depth": 1, "asset": "(none)", "checks": []}]:
            checks = f"  [{len(row['checks'])} check(s)]" if row["checks"] else ""
            click.echo(f"{'  ' * row['depth']}{'↑' if d == 'upstream' else '↓'} {row['asset']}{checks}")
    if result.get("columns"):
        click.echo("columns:")
        for column, deps in result["columns"].items():
            click.echo(f"  {column} ← {', '.join(deps) or '(computed)'}")
