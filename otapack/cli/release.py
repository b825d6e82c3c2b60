"""``otapack release``: every package of a fleet release from one manifest (docs/release.md).

Thin: parse, call ``otapack.features.release`` through ``otapack.api``,
render.  stdout: the routes table, or with ``--json`` the release document
and the run's cache counters; stderr: one progress line per package
(off with ``--quiet``) and the summary.
"""

from __future__ import annotations

import click

from otapack import api
from otapack.cli.common import command, emit_json, info, quiet
from otapack.cli.options import INPUT_FILE, OUTPUT_DIR, json_option

_STATES = {"hit": "cached", "built": "built "}


def render_routes(document: dict) -> str:
    """The release as a table: per model its full package, then one row per deployed version."""
    rows = [("model", "from", "route", "bytes", "job")]
    for model in document["models"]:
        full = next(p for p in document["packages"] if p["path"] == model["full"]["package"])
        rows.append((model["name"], "(any)", "full", f"{full['size']:,}", model["full"]["job"] or "- (does not fit)"))
        for route in model["routes"]:
            rows.append((model["name"], route["source_version"], route["method"], f"{route['download_bytes']:,}",
                         route["job"]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.rjust(w) if i == 3 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _progress(ctx):
    if quiet(ctx):
        return None

    def show(event) -> None:
        sizes = " + ".join(f"{s:,}" for s in event.sizes)
        width = len(str(event.total))
        click.echo(f"[{event.done:>{width}}/{event.total}] {_STATES[event.state]} {event.label}: {sizes} B", err=True)

    return show


@command("release")
@click.argument("manifest", type=INPUT_FILE)
@click.option("-o", "--output", "out_dir", required=True, metavar="OUT_DIR",
              type=OUTPUT_DIR,
              help="Release folder: new, empty, or an earlier release of this command.")
@click.option("--cache", "cache_dir", default=None, metavar="DIR", type=OUTPUT_DIR,
              help=f"Package cache (default: OUT_DIR/{api.RELEASE_CACHE_NAME}).")
@click.option("--jobs", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Workers (local pool) or CPUs of a local Ray instance; output is identical for any value.")
@click.option("--executor", type=click.Choice(sorted(api.RELEASE_EXECUTORS)), default="local", show_default=True,
              help="Where packages are built: " + "; ".join(f"{e.name}: {e.description}"
                                                            for e in api.RELEASE_EXECUTORS.values()) + ".")
@click.option("--ray-address", default=None, metavar="ADDRESS",
              help="Ray cluster to run on (HOST:PORT, or auto on a cluster node); default: a local Ray instance.")
@click.option("--no-verify", is_flag=True, help="Skip the device restore on every package (the manifest's verify).")
@json_option
@click.pass_context
def release_cmd(ctx, manifest, out_dir, cache_dir, jobs, executor, ray_address, no_verify, as_json):
    """Build the release MANIFEST describes into OUT_DIR: every delta (or full fallback), full
    package and minimal-system pair, signed, with job documents, release.json and release.html."""
    options = api.ReleaseOptions(out_dir, cache_dir, api.ExecutorOptions(executor, jobs, ray_address),
                                 verify=False if no_verify else None)
    result = api.build_release(api.load_release_manifest(manifest), options, _progress(ctx))
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(render_routes(result.document))
    totals, cache = result.document["totals"], result.cache
    info(ctx, f"wrote {out_dir}: {totals['packages']} packages ({totals['package_bytes']:,} bytes), "
              f"{totals['jobs']} job documents, release.json, release.html; cache: {cache.hits} cached, "
              f"{cache.misses} built" + (f" ({cache.corrupt} corrupt entries rebuilt)" if cache.corrupt else "")
              + (f"; removed {len(result.removed)} files of the previous release" if result.removed else ""))


COMMANDS = [release_cmd]
