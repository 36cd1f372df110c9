"""``olist health``: run every check once, print a table (or JSON), exit 0 ok / 1 warn / 2 fail.

What a person on call or a Kubernetes CronJob runs; the Airflow DAG runs the same checks.
"""

from __future__ import annotations

import json

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("health")
def health(
    as_json: bool = typer.Option(False, "--json", help="One JSON document instead of a table."),
    component: list[str] = typer.Option(
        [],
        help="Check only this component (repeatable): source_api, producer, pubsub, "
        "streaming, bigquery, storage.",
    ),
) -> None:
    """Check every stage of the pipeline against its thresholds (OLIST_HEALTH_*)."""
    from health.result import worst
    from health.run import COMPONENTS, run_checks

    unknown = sorted(set(component) - set(COMPONENTS))
    if unknown:
        raise typer.BadParameter(
            f"{', '.join(unknown)}: expected one of {', '.join(COMPONENTS)}",
            param_hint="--component",
        )
    results = run_checks(components=component or None)
    status = worst(results)
    if as_json:
        document = {"status": str(status), "checks": [result.as_dict() for result in results]}
        typer.echo(json.dumps(document, indent=2, default=str))
    else:
        typer.echo(render_table([result.as_dict() for result in results]))
        typer.echo(f"overall: {status}")
    raise typer.Exit(int(status))


def render_table(rows: list[dict[str, object]]) -> str:
    """Aligned columns: component, check, status, value, threshold, message."""
    columns = ["component", "check", "status", "value", "threshold", "message"]
    cells = [[("-" if row[c] is None else str(row[c])) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in [columns, *cells]
    ]
    return "\n".join(lines)
