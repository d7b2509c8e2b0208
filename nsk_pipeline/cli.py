"""`nsk`: the command line for data engineers.

    nsk materialize      materialise every asset once, in process, for the NSK_* environment
    nsk validate DIR     check a delivery: rows that would be staged or quarantined, files rejected
    nsk analyst-role     PostgreSQL: create/update a login role that can read marts and nothing else
                         (password from NSK_ANALYST_PASSWORD)
    nsk report --plan HP2024 --year 2025
                         write the yearly status report (HTML, Markdown and Word) from the marts
    nsk changes [--since DATE | --between RUN_A RUN_B] [--json]
                         what changed between two publications of the marts, and the deliveries
                         that explain it
    nsk explain HP2024-V3 --year 2025   (or: nsk explain --indicator rettighedskurser --year 2025)
                         the records that make up a goal's or indicator's number, those that do not
                         count and why, and their sum beside the mart's value

Exit status: 0 success, 1 a step or a blocking check failed, 2 a configuration error,
3 another run is writing to the warehouse.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys


def _instance():
    import dagster as dg

    from nsk_pipeline.core.deadruns import sweep_home

    # With DAGSTER_HOME the run and its events land in that instance (the UI shows them);
    # without it the run is ephemeral. A run whose process died is marked failed first (once:
    # loading the definitions afterwards does not sweep again).
    if os.environ.get("DAGSTER_HOME"):
        instance = dg.DagsterInstance.get()
        sweep_home(instance)
        return instance
    return dg.DagsterInstance.ephemeral()


def materialize(args: argparse.Namespace) -> int:
    from nsk_pipeline.core.settings import Settings, SettingsError
    from nsk_pipeline.goals.registry import GoalRegistryError, load_registry

    if args.years:
        # Said plainly rather than ignored: "latest export wins" is a rule per key across every
        # export and every year, so a partial rebuild could publish other numbers than a full one.
        print("nsk: --years is gone: every run is a full refresh of every year from every export "
              "(see README, 'Every refresh is a full refresh')", file=sys.stderr)
        return 2
    try:
        settings = Settings.from_env()
        settings.require_pseudonym_key()
        load_registry(settings.goals_path)  # a bad registry is a configuration error, found before any work
        settings.check()
    except (SettingsError, GoalRegistryError, ValueError) as e:
        print(f"nsk: {e}", file=sys.stderr)
        return 2
    from nsk_pipeline.core.runlock import RunLock
    from nsk_pipeline.core.warehouse import Warehouse, WarehouseBusy, disk_full_message

    # Taken before the run and held to its end (the run's resource finds it held by this
    # process): a second run, however close behind, waits here and gets one clear line.
    holder = Warehouse(settings.warehouse_url)
    lock = RunLock(holder, wait_seconds=settings.lock_wait_seconds)
    try:
        lock.acquire()
    except WarehouseBusy as e:
        holder.dispose()
        print(f"nsk: {e}", file=sys.stderr)
        return 3
    except Exception as e:  # opening the warehouse can already need disk space (its WAL)
        holder.dispose()
        full = disk_full_message(_exception_messages(e), settings.warehouse_url)
        if full is None:
            raise
        print(f"nsk: {full}", file=sys.stderr)
        return 1
    try:
        return _run(settings, args)
    finally:
        lock.release()
        holder.dispose()


def _run(settings, args: argparse.Namespace) -> int:
    import dagster as dg

    with _instance() as instance:
        # Only now: the code location builds its Definitions from the same NSK_* settings on import.
        from nsk_pipeline.definitions import ASSETS, CHECKS, EXPECTATION_CHECKS, build_definitions

        defs = build_definitions(settings)
        checks = [*CHECKS, *(EXPECTATION_CHECKS if args.expectations else [])]
        result = dg.materialize([*ASSETS, *checks], instance=instance, resources=defs.resources,
                                raise_on_error=False, tags={"nsk/as_of": settings.as_of.isoformat()},
                                run_config={"loggers": {"console": {"config": {"log_level": args.log_level}}}})
        failed_checks = [e for e in result.get_asset_check_evaluations() if not e.passed]
        blocking = [e for e in failed_checks if e.severity == dg.AssetCheckSeverity.ERROR]
        print(_summary(settings, result, failed_checks))
        if args.expectations:
            from nsk_pipeline.marts.expectations import docs_index_for

            print(f"nsk: Data Docs {docs_index_for(settings.reports_dir)}")
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                err = event.step_failure_data.error
                print(f"nsk: step {event.step_key} failed: {_failure_message(err, settings)}", file=sys.stderr)
            elif event.is_run_failure and event.event_specific_data and event.event_specific_data.error:
                print(f"nsk: run failed: {_failure_message(event.event_specific_data.error, settings)}",
                      file=sys.stderr)
        return 1
    return 1 if blocking else 0


def _failure_message(err, settings) -> str:
    """The root cause of a failure, in the words an operator can act on."""
    from nsk_pipeline.core.warehouse import disk_full_message

    return disk_full_message(_chain_messages(err), settings.warehouse_url) or _root_message(err)


def _chain_messages(err) -> list[str]:
    """Every message in an error's chain, cause and context: a full disk often surfaces as a
    later "transaction is aborted", with the real cause only in the context."""
    out, todo = [], [err]
    while todo:
        e = todo.pop()
        if e is None:
            continue
        out.append(e.message)
        todo += [e.cause, getattr(e, "context", None)]
    return out


def _exception_messages(e: BaseException | None) -> list[str]:
    out = []
    while e is not None:
        out.append(str(e))
        e = e.__cause__ or e.__context__
    return out


def _root_message(err) -> str:
    """The innermost cause: what went wrong, without Dagster's wrapping."""
    if err is None:
        return "unknown error"
    while err.cause is not None:
        err = err.cause
    return err.message.strip()


def _summary(settings, result, failed_checks) -> str:
    from nsk_pipeline.core.warehouse import Warehouse

    lines = [f"nsk: as of {settings.as_of.isoformat()}, raw data {settings.raw_dir}",
             f"nsk: warehouse {settings.warehouse_url}"]
    latest = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        latest[mat.asset_key.to_user_string()] = mat.metadata
    for key, md in latest.items():
        if "rows_read" in md:
            lines.append(f"  {key:32} read {md['rows_read'].value:>6}  staged {md['rows_staged'].value:>6}  "
                         f"quarantined {md['rows_quarantined'].value:>4}  files rejected {md['files_rejected'].value}")
    if result.success:
        wh = Warehouse(settings.warehouse_url)
        try:
            counts = wh.read_sql("SELECT status, count(*) AS n FROM marts.goal_attainment GROUP BY status ORDER BY status")
            lines.append("  marts/goal_attainment: " + ", ".join(f"{r.status} {r.n}" for r in counts.itertuples()))
        finally:
            wh.dispose()
    for e in failed_checks:
        lines.append(f"  check failed ({e.severity.value.lower()}): {e.asset_key.to_user_string()} {e.check_name}")
    lines.append("nsk: " + ("run succeeded" if result.success else "run FAILED"))
    return "\n".join(lines)


def validate(args: argparse.Namespace) -> int:
    from nsk_pipeline.core.settings import settings_for_command
    from nsk_pipeline.sources.validate import validate_cli

    settings = settings_for_command()
    if settings is None:
        return 2
    return validate_cli(args.directory, args.json, settings.as_of, settings.goals_path, settings.warehouse_url)


def analyst_role(args: argparse.Namespace) -> int:
    from nsk_pipeline.core.roles import ensure_analyst_role
    from nsk_pipeline.core.settings import settings_for_command
    from nsk_pipeline.core.warehouse import Warehouse

    settings = settings_for_command()
    if settings is None:
        return 2
    password = os.environ.get("NSK_ANALYST_PASSWORD") or None
    wh = Warehouse(settings.warehouse_url)
    try:
        ensure_analyst_role(wh, args.role, password)
    except ValueError as e:
        print(f"nsk: {e}", file=sys.stderr)
        return 2
    finally:
        wh.dispose()
    print(f"nsk: role {args.role} can log in and read marts.* (and nothing else)"
          + ("" if password else "; no password set (NSK_ANALYST_PASSWORD)"))
    return 0


# --- nsk report --------------------------------------------------------------------------------

def open_for_reading(url: str):
    """The warehouse opened read-only, or the exit code after one line: 2 none there (a mistyped
    NSK_WAREHOUSE_URL must not leave an empty warehouse behind), 3 another process holds it."""
    from nsk_pipeline.core.warehouse import Warehouse, WarehouseBusy, WarehouseMissing

    try:
        return Warehouse.open_existing(url)
    except WarehouseBusy as e:
        print(f"nsk: {e}", file=sys.stderr)
        return 3
    except WarehouseMissing as e:
        print(f"nsk: {e}: run `nsk materialize` first, or check the setting", file=sys.stderr)
        return 2


def report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nsk_pipeline.core.settings import settings_for_command
    from nsk_pipeline.reports.render import ReportError, write_report

    settings = settings_for_command()
    if settings is None:
        return 2
    out = Path(args.out) if getattr(args, "out", None) else settings.reports_dir
    wh = open_for_reading(settings.warehouse_url)
    if isinstance(wh, int):
        return wh
    try:
        template = getattr(args, "docx_template", None) or settings.report_docx_template
        files = write_report(wh, args.plan, int(args.year), out, template)
    except ReportError as e:
        print(f"nsk: {e}", file=sys.stderr)
        return 2
    finally:
        wh.dispose()
    print(f"nsk: report written: {files.html}\nnsk: markdown: {files.markdown}\nnsk: word: {files.docx}")
    return 0


def add_report_parser(sub) -> None:
    p = sub.add_parser("report", help="write the yearly status report (HTML, Markdown and Word) for a plan")
    p.add_argument("--plan", required=True, help="plan id, e.g. HP2024")
    p.add_argument("--year", required=True, type=int, help="the year to report on, e.g. 2024")
    p.add_argument("--out", default=None, help="output folder (default NSK_REPORTS_DIR, else data/marts/reports/)")
    p.add_argument("--docx-template", default=None, metavar="PATH",
                   help="the Word template (.docx with docxtpl tags; default NSK_REPORT_DOCX_TEMPLATE, else the "
                        "shipped templates/status.docx)")
    p.set_defaults(func=report)


# --- nsk explain -------------------------------------------------------------------------------

def explain(args: argparse.Namespace) -> int:
    import json

    from nsk_pipeline.core.settings import settings_for_command
    from nsk_pipeline.goals.registry import GoalRegistryError, load_registry
    from nsk_pipeline.marts.explain import ExplainError, explain_goal, explain_indicator, render_text

    settings = settings_for_command()
    if settings is None:
        return 2
    if bool(args.goal) == bool(args.indicator):
        print("nsk: explain takes a goal id or --indicator ID (one of them)", file=sys.stderr)
        return 2
    try:
        registry = load_registry(settings.goals_path) if args.goal else None
    except GoalRegistryError as e:
        print(f"nsk: {e}", file=sys.stderr)
        return 2
    wh = open_for_reading(settings.warehouse_url)
    if isinstance(wh, int):
        return wh
    try:
        explained = (explain_goal(wh, registry, args.goal, args.year) if args.goal else
                     explain_indicator(wh, args.indicator, args.year))
    except ExplainError as e:
        print(f"nsk: {e}", file=sys.stderr)
        return 2
    finally:
        wh.dispose()
    print(json.dumps(explained.to_json(), indent=2, ensure_ascii=False, default=str) if args.json
          else render_text(explained, show_other=args.all))
    return 0 if explained.agrees else 1


def add_explain_parser(sub) -> None:
    p = sub.add_parser("explain", help="the records behind a goal's or an indicator's number, and those that do not "
                                       "count (reads the warehouse only)")
    p.add_argument("goal", nargs="?", help="a numeric goal's id, e.g. HP2024-V3")
    p.add_argument("--indicator", help="an indicator id instead of a goal (marts.indicator_yearly's value)")
    p.add_argument("--year", required=True, type=int, help="the goal's or indicator's year")
    p.add_argument("--all", action="store_true",
                   help="also list the period's current records that the indicator's definition does not take")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=explain)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nsk", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    mat = sub.add_parser("materialize", help="materialise every asset once, in process")
    mat.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                     help="console log level of the run (default INFO: the pipeline's own messages)")
    mat.add_argument("--expectations", action="store_true",
                     help="also run the Great Expectations suites on the marts and build the Data Docs "
                          "(<NSK_REPORTS_DIR parent>/data_docs); imports GX, about 7 s more")
    mat.add_argument("--years", help=argparse.SUPPRESS)  # removed: answered with exit 2 and why
    mat.set_defaults(func=materialize)
    val = sub.add_parser("validate", help="check a delivery before it is loaded, without touching the warehouse")
    val.add_argument("directory", help="a raw folder with one sub-folder per source (like data/raw), "
                                       "or one source's folder (like data/raw/vejlederlog)")
    val.add_argument("--json", action="store_true", help="machine-readable output")
    val.set_defaults(func=validate)
    role = sub.add_parser("analyst-role", help="PostgreSQL: create or update a login role that reads marts only")
    role.add_argument("role", nargs="?", default="nsk_analyst", help="role name (default nsk_analyst)")
    role.set_defaults(func=analyst_role)
    add_report_parser(sub)
    from nsk_pipeline.marts.revisions import add_changes_parser

    add_changes_parser(sub)
    add_explain_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
