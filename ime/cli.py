"""The `ime` command (README.md, "The command line")."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ime.config import DEFAULT_DEMO_DIR, database_path


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", help="database file (default: $IME_DB, else data/ime.duckdb)", default=None
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from devtools.demo import generate

    summary = generate(Path(args.out), n_exams=args.exams, seed=args.seed, fmt=args.format, progress=True)
    print(f"Wrote demo data to {args.out}:")
    for name, n in summary.rows.items():
        print(f"  {name:<18} {n:>12,} rows")
    print(f"in {summary.seconds:.1f} s (truth.csv lists the planted patterns; the product never reads it)")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    import functools

    from etl.errors import LoadError
    from etl.load import load
    from measures.precompute import after_load

    try:
        report = load(
            [Path(p) for p in args.paths], database_path(args.db),
            Path(args.profile) if args.profile else None, progress=not args.json,
            after_build=functools.partial(after_load, refit=args.refit),
        )
    except LoadError as exc:
        print(f"ime load: nothing was changed: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.to_text())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import importlib.util
    import os

    app = Path(importlib.util.find_spec("dashboard.app").origin)
    db = database_path(args.db).resolve()
    if not db.exists():
        print(
            f"ime serve: no database at {db} yet; the dashboard will say how to create one "
            "(`ime demo` then `ime load data/demo`).",
            file=sys.stderr,
        )
    env = {**os.environ, "IME_DB": str(db)}
    argv = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",
        # One process serves every session, so whatever holds the GIL makes every reader wait.
        # Streamlit's full garbage collection after each run of each session did (about a
        # third of the server's time with 8 sessions: devtools/bench_concurrency.py); Python's
        # own collector still runs as memory grows. Nor does a server poll its source files, or
        # rewrite a page for "magic" (no page shows a bare expression) each time Streamlit
        # compiles it again: whenever no session is connected, it forgets the compiled pages.
        "--runner.postScriptGC", "false",
        "--server.fileWatcherType", "none",
        "--runner.magicEnabled", "false",
    ]
    from ime import balancer

    workers = balancer.default_workers() if args.workers is None else args.workers
    if workers < 1:
        print("ime serve: --workers must be at least 1", file=sys.stderr)
        return 2
    if workers > 1:
        return balancer.serve(argv, env, args.address, args.port, workers)
    # Replace this process, so that stopping `ime serve` stops the server itself.
    argv += ["--server.port", str(args.port), "--server.address", args.address]
    os.execve(sys.executable, argv, env)
    return 0  # not reached


def cmd_flags(args: argparse.Namespace) -> int:
    from measures.base import FLAG_COLUMNS
    from measures.engine import compute_flags, explain, flag_history, flags_for_view
    from outputs.files import neutralise_formulas

    view = _flags_view(args)
    if view is None:
        return 2
    scope, filters = view
    con = _connect_or_fail(args, "flags")
    if con is None or not _insurers_known(con, scope, args, "flags"):
        return 2
    if args.history:
        return _print_history(flag_history(con, scope, args.history), args)
    try:
        flags = (
            compute_flags(con, scope, filters, measures=tuple(args.measure))
            if args.measure
            else flags_for_view(con, scope, filters)
        )
    except RuntimeError as exc:
        print(f"ime flags: {exc}", file=sys.stderr)
        return 2
    if args.explain:
        if args.explain not in set(flags["examiner_id"]):
            print(f"ime flags: no exams of examiner {args.explain!r} in this view of "
                  f"{database_path(args.db)}; check the id, or widen --start, --end and "
                  "--filter", file=sys.stderr)
            return 2
        words = explain(flags, args.explain)
        if args.out:
            Path(args.out).write_text(words + "\n", encoding="utf-8")
            print(f"Wrote the reasoning for examiner {args.explain} to {args.out}",
                  file=sys.stderr)
        else:
            print(words)
        return 0
    # Ids are data: one that reads as a spreadsheet formula is written as text.
    table = neutralise_formulas(flags[FLAG_COLUMNS])
    if args.out:
        table.to_csv(args.out, index=False)
        n_flagged = int(table["flagged"].sum())
        print(f"Wrote {len(table):,} rows ({n_flagged} flagged) to {args.out}", file=sys.stderr)
    else:
        table.to_csv(sys.stdout, index=False)
    return 0


def _flags_view(args: argparse.Namespace):
    """The (Scope, Filters) of `ime flags`' view options, or None after saying why not."""
    import queries

    if args.role == "researcher":
        print("ime flags: a researcher sees no examiner's flags, only aggregates: "
              "`ime export decision_counts_flags --role researcher`", file=sys.stderr)
        return None
    if args.insurer and args.role != "insurer":
        print(f"ime flags: --insurer applies to --role insurer only (role is {args.role})",
              file=sys.stderr)
        return None
    if args.role == "insurer" and not args.insurer:
        print("ime flags: --role insurer needs at least one --insurer ID (the insurer's own "
              "cases)", file=sys.stderr)
        return None
    try:
        return queries.Scope(args.role, tuple(args.insurer or ())), _filters(args)
    except ValueError as exc:
        print(f"ime flags: {exc}", file=sys.stderr)
        return None


def _insurers_known(con, scope, args: argparse.Namespace, command: str) -> bool:
    """Whether every insurer of the scope has cases in the database; else say so."""
    import queries

    known = set(queries.run(con, "filter_values").query("filter == 'insurer_id'")["value"])
    unknown = sorted(set(scope.insurer_ids) - known)
    if unknown:
        print(f"ime {command}: no cases of insurer {', '.join(unknown)} in "
              f"{database_path(args.db)}; known insurers: {', '.join(sorted(known)) or 'none'}",
              file=sys.stderr)
    return not unknown


def _print_history(history, args: argparse.Namespace) -> int:
    """`ime flags --history EXAMINER`: the examiner's flags in every stored load, oldest first."""
    from outputs.files import neutralise_formulas

    if history.empty:
        print(f"ime flags: no stored flags for examiner {args.history!r} (the history starts "
              "with the first load that stores it)", file=sys.stderr)
        return 2
    if args.measure:
        history = history[history["measure"].isin(args.measure)]
    table = neutralise_formulas(history)
    if args.out:
        table.to_csv(args.out, index=False)
        n_loads = table["load_id"].nunique()
        print(f"Wrote {len(table):,} rows ({n_loads} loads) to {args.out}", file=sys.stderr)
    else:
        table.to_csv(sys.stdout, index=False)
    return 0


def _users_file(args: argparse.Namespace) -> Path:
    from access.auth import users_path

    return Path(args.users) if args.users else users_path()


def _operator() -> str:
    """Who ran the command, for the audit log."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except OSError:  # no user name in this environment (some containers)
        return "cli:unknown"


def _read_password(args: argparse.Namespace) -> str | None:
    import getpass

    if args.no_password:
        return None
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass(f"Password for {args.name}: ")
    if getpass.getpass("Again: ") != password:
        raise ValueError("the two passwords differ; nothing was changed")
    return password


def cmd_user_add(args: argparse.Namespace) -> int:
    from access import audit, auth

    path = _users_file(args)
    try:
        user = auth.add_user(
            args.name, args.role, args.insurer or (), _read_password(args),
            email=args.email, oidc_subject=args.oidc_subject, examiner_id=args.examiner,
            path=path,
        )
    except ValueError as exc:
        print(f"ime user add: {exc}", file=sys.stderr)
        return 2
    detail = {"user": user.username, "role": user.role, "insurer_ids": list(user.insurer_ids),
              "examiner_id": user.examiner_id}
    audit.record("user_added", _operator(), None, detail)
    print(f"Added {user.username} ({user.role}) to {path}")
    return 0


def cmd_user_remove(args: argparse.Namespace) -> int:
    from access import audit, auth

    path = _users_file(args)
    try:
        user = auth.remove_user(args.name, path=path)
    except (KeyError, ValueError) as exc:
        print(f"ime user remove: {exc.args[0]}", file=sys.stderr)
        return 2
    audit.record("user_removed", _operator(), None, {"user": user.username, "role": user.role})
    print(f"Removed {user.username} from {path}")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    from access import auth

    path = _users_file(args)
    try:
        users = auth.list_users(path=path)
    except ValueError as exc:
        print(f"ime user list: {exc}", file=sys.stderr)
        return 2
    if not users:
        print(f"No users in {path}: the dashboard runs in demo mode.")
        return 0
    for user in users:
        sign_in = ["password"] if user.has_password else []
        sign_in += [f"{field}={value}" for field, value in
                    (("email", user.email), ("oidc_subject", user.oidc_subject)) if value]
        insurers = ",".join(user.insurer_ids) or user.examiner_id or "-"
        print(f"{user.username:<24} {user.role:<11} {insurers:<24} {' '.join(sign_in)}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from access import audit

    path = Path(args.audit_db) if args.audit_db else audit.audit_path()
    if not path.exists():
        print(f"ime audit verify: no audit log at {path}", file=sys.stderr)
        return 2
    check = audit.verify(path=path)
    if not check.ok:
        print(f"ime audit verify: {path}: {check.message()}", file=sys.stderr)
        return 1
    print(check.message())
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from devtools.validation import write_report

    realdata = Path(args.realdata) if args.realdata else None
    result = write_report(
        Path(args.out), tuple(args.seeds), args.exams, tuple(args.power_seeds), args.power_exams,
        realdata, progress=True, jobs=args.jobs,
    )
    print(result.detection.to_string(index=False))
    print()
    print(result.both_sides.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for table in (result.by_odds, result.by_volume, result.fair):
        print()
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"Wrote {args.out} in {result.seconds / 60:.1f} minutes")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from devtools.bench.runner import run

    return run(args)


def _filters(args: argparse.Namespace):
    """The Filters of --start, --end and --filter COLUMN=VALUE (repeatable, OR within a column)."""
    from queries import FILTER_COLUMNS, Filters

    values: dict[str, list[str]] = {}
    for item in args.filter or ():
        column, sep, value = item.partition("=")
        if not sep or column.strip() not in FILTER_COLUMNS or not value.strip():
            raise ValueError(
                f"--filter {item!r}: use COLUMN=VALUE, COLUMN one of {', '.join(FILTER_COLUMNS)}"
            )
        values.setdefault(column.strip(), []).append(value.strip())
    return Filters(start=args.start, end=args.end, **{c: tuple(v) for c, v in values.items()})


def _connect_or_fail(args: argparse.Namespace, command: str):
    import queries

    try:
        return queries.connect(database_path(args.db))
    except FileNotFoundError as exc:
        print(f"ime {command}: {exc}", file=sys.stderr)
        return None


def cmd_export(args: argparse.Namespace) -> int:
    import queries
    from access.roles import check_filters
    from imestats.suppression import check_k
    from outputs.files import FORMATS
    from outputs.tables import export

    if bool(args.by) != (args.what == "crosstab"):
        print("ime export: --by goes with crosstab, which needs two (e.g. crosstab --by "
              "jurisdiction --by year)", file=sys.stderr)
        return 2
    if args.insurer and args.role != "insurer":
        print(f"ime export: --insurer applies to --role insurer only (role is {args.role})",
              file=sys.stderr)
        return 2
    suffix = Path(args.out).suffix.lstrip(".").lower() if args.out else ""
    fmt = args.format or (suffix if suffix in FORMATS else "csv")
    if args.out and suffix and suffix != fmt:
        print(f"ime export: --out {args.out} ends in .{suffix} but the format is {fmt}; "
              "make them agree", file=sys.stderr)
        return 2
    try:
        scope = queries.Scope(args.role, tuple(args.insurer or ()))
        k = check_k(args.k)
        filters = check_filters(scope, _filters(args))
    except ValueError as exc:
        message = str(exc)
        if args.role == "insurer" and not args.insurer:
            message = "--role insurer needs at least one --insurer ID (the insurer's own cases)"
        print(f"ime export: {message}", file=sys.stderr)
        return 2
    if args.out and Path(args.out).is_dir():
        print(f"ime export: --out {args.out} is a folder; name the table file, e.g. "
              f"{Path(args.out) / f'{args.what}-{scope.role}.{fmt}'}", file=sys.stderr)
        return 2
    con = _connect_or_fail(args, "export")
    if con is None:
        return 2
    if not _insurers_known(con, scope, args, "export"):
        return 2
    if scope.role == "regulator" and k != 11:
        print("ime export: note: a regulator's export is not suppressed; --k is not used",
              file=sys.stderr)
    out = Path(args.out) if args.out else Path("exports") / f"{args.what}-{scope.role}.{fmt}"
    try:
        files = export(con, args.what, scope, out, fmt, username=_operator(), filters=filters,
                       k=k, by=args.by or ())
    except (ValueError, OSError) as exc:
        print(f"ime export: nothing was written: {exc}", file=sys.stderr)
        return 2
    print(f"Wrote {files.data}\n  data dictionary {files.dictionary}\n  metadata {files.metadata}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from outputs.paths import file_in, safe_file_stem
    from outputs.report import write_report
    from queries import FULL_ACCESS

    examiner_id = args.examiner_id if args.kind == "examiner" else None
    try:
        filters = _filters(args)
    except ValueError as exc:
        print(f"ime report: {exc}", file=sys.stderr)
        return 2
    con = _connect_or_fail(args, "report")
    if con is None:
        return 2
    # The id is data: it names the file only through safe_file_stem, and never a folder.
    default = f"examiner-{safe_file_stem(examiner_id)}.html" if examiner_id else "panel.html"
    out = Path(args.out) if args.out else file_in(Path("reports"), default)
    try:
        # The command line is run by whoever holds the database: a regulator's view.
        files = write_report(con, FULL_ACCESS, out, username=_operator(), examiner_id=examiner_id,
                             pdf=args.pdf, filters=filters)
    except (KeyError, RuntimeError) as exc:
        print(f"ime report: {exc.args[0]}", file=sys.stderr)
        return 2
    print(f"Wrote {files.html}" + (f" and {files.pdf}" if files.pdf else ""))
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    import pandas as pd

    from access import reviews

    command = f"ime review {args.review_command}"
    try:
        if args.review_command == "open":
            con = _connect_or_fail(args, "review open")
            if con is None:
                return 2
            from outputs import report

            review = report.open_review(con, args.examiner_id, _operator(), days=args.days)
            print(f"Opened review {review.review_id} of examiner {review.examiner_id}: "
                  f"{len(review.figures)} measures frozen from snapshot "
                  f"{review.snapshot_sha256[:16]}; reply by {review.deadline_utc:%Y-%m-%d}")
        elif args.review_command == "reply":
            text = Path(args.text).read_text(encoding="utf-8")
            review = reviews.reply(args.examiner_id, text, _operator(), channel="mail")
            print(f"Recorded the reply of examiner {review.examiner_id} to review "
                  f"{review.review_id} ({len(review.reply.text):,} characters)")
        elif args.review_command == "close":
            review = reviews.close(args.examiner_id, _operator())
            print(f"Closed review {review.review_id} of examiner {review.examiner_id}"
                  + ("" if review.reply else " (no reply was received)"))
        else:
            table = reviews.listing()
            if table.empty:
                print("No reviews yet. Open one with `ime review open EXAMINER`.")
            else:
                for column in ("opened_at_utc", "deadline_utc", "replied_at_utc", "closed_at_utc"):
                    table[column] = table[column].map(
                        lambda t: "-" if t is None or pd.isna(t) else f"{t:%Y-%m-%d %H:%M}")
                table["days_left"] = table["days_left"].map(
                    lambda d: "-" if d is None or pd.isna(d) else str(int(d)))
                print(table.drop(columns=["snapshot_sha256"]).fillna("-").to_string(index=False))
    except (reviews.ReviewError, OSError, UnicodeDecodeError) as exc:
        print(f"{command}: nothing was changed: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from outputs.publish import publish

    con = _connect_or_fail(args, "publish")
    if con is None:
        return 2
    try:
        site = publish(con, Path(args.out), username=_operator())
    except (ValueError, OSError) as exc:
        print(f"ime publish: {exc}", file=sys.stderr)
        return 2
    print(f"Wrote {len(site.pages)} pages and {len(site.tables)} CSV tables to {args.out} "
          f"(examiners named: {len(site.named)}; open {Path(args.out) / 'index.html'})")
    return 0


def _add_filters(parser: argparse.ArgumentParser) -> None:
    import datetime as dt

    parser.add_argument("--start", type=dt.date.fromisoformat, metavar="YYYY-MM-DD",
                        help="first exam date to include")
    parser.add_argument("--end", type=dt.date.fromisoformat, metavar="YYYY-MM-DD",
                        help="last exam date to include")
    parser.add_argument(
        "--filter", action="append", metavar="COLUMN=VALUE",
        help="keep exams with this value (repeatable; values of one column are alternatives): "
             "jurisdiction, claim_type, body_part, insurer_id, specialty, requested_by, exam_type",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ime", description="IME outcomes: load data, flag examiners, export, serve the dashboard."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="write a realistic synthetic data set with planted examiner biases")
    demo.add_argument("--out", default=str(DEFAULT_DEMO_DIR), help="folder to write (default: data/demo)")
    demo.add_argument("--exams", type=int, default=50_000, help="number of exams (default: 50,000)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("--format", choices=("csv", "parquet"), default="csv", help="file format (default: csv)")
    demo.set_defaults(func=cmd_demo)

    from measures.casemix import REFIT_SHARE

    load = sub.add_parser("load", help="load files or folders into the database, quarantining bad rows")
    load.add_argument("paths", nargs="+", help="files (.csv, .parquet, .xlsx) or folders")
    load.add_argument("--profile", help="mapping profile (TOML) for files not in the canonical format")
    load.add_argument("--json", action="store_true", help="print the load report as JSON")
    load.add_argument(
        "--refit", action="store_true",
        help="refit the case-mix models on this load (default: only when none are stored or "
        f"the exams added since the last fit exceed {REFIT_SHARE:.0%}% of those it saw)",
    )
    _add_db(load)
    load.set_defaults(func=cmd_load)

    from measures.registry import NAMES as MEASURES
    from queries import ROLES

    flags = sub.add_parser("flags", help="examiner flags per measure as CSV (case-mix adjusted, FDR-controlled)")
    flags.add_argument(
        "--measure", action="append", choices=MEASURES,
        help="measure to compute (repeatable; default: all)",
    )
    flags.add_argument(
        "--out", help="file to write, the CSV or with --explain the reasoning (default: standard "
        "output)",
    )
    flags.add_argument("--explain", metavar="EXAMINER",
                       help="the reasoning for one examiner in words")
    flags.add_argument("--role", choices=ROLES, default="regulator",
                       help="whose view (default: regulator; an insurer sees its own cases only)")
    flags.add_argument("--insurer", action="append", metavar="ID",
                       help="insurer_id whose cases an insurer sees (repeatable; required "
                            "with --role insurer)")
    _add_filters(flags)
    flags.add_argument(
        "--history", metavar="EXAMINER",
        help="the examiner's flags in every stored load, oldest first (load_id, loaded_at, then "
        "the flags columns)",
    )
    _add_db(flags)
    flags.set_defaults(func=cmd_flags)

    validate = sub.add_parser(
        "validate",
        help="run the flags on demo data with planted patterns and power grids, beside the "
        "textbook tests, and write docs/validation.md",
    )
    validate.add_argument(
        "--seeds", type=int, nargs="+", default=[1, 2, 3],
        help="seeds of the default demo data sets (default: 1 2 3)",
    )
    validate.add_argument(
        "--exams", type=int, default=50_000,
        help="exams per default demo data set (default: 50,000)",
    )
    validate.add_argument(
        "--power-seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5],
        help="seeds of the power grids, one data set each (default: 1 to 5)",
    )
    validate.add_argument(
        "--power-exams", type=int, default=120_000,
        help="exams per power-grid data set (default: 120,000)",
    )
    validate.add_argument(
        "--out", default="docs/validation.md",
        help="report to write; its chart is written beside it as <name>-power.svg",
    )
    validate.add_argument(
        "--realdata", default="data/public",
        help="folder of the public data sets, for the SSA judges comparison (default: "
        "data/public, shipped with the repository)",
    )
    validate.add_argument(
        "--jobs", type=int, default=1,
        help="data sets generated, loaded and flagged at the same time, each in its own "
        "process (default: 1); the figures do not depend on it",
    )
    validate.set_defaults(func=cmd_validate)

    from devtools.bench import runner as bench_runner

    bench = sub.add_parser(
        "bench", help="time load, flags, exports and every page at several sizes against "
        "baselines; write docs/benchmarks.md",
    )
    bench_runner.add_arguments(bench)
    bench.set_defaults(func=cmd_bench)

    serve = sub.add_parser("serve", help="start the dashboard on localhost")
    serve.add_argument("--port", type=int, default=8501, help="port to listen on (default: 8501)")
    serve.add_argument(
        "--address", default="localhost",
        help="address to listen on (default: localhost; 0.0.0.0 serves other machines too)",
    )
    serve.add_argument(
        "--workers", type=int, default=None,
        help="dashboard processes behind the one address, each reader kept on one (default: one "
             "per core, at most 4; 1 runs Streamlit alone). Script runs of one process share one "
             "interpreter lock, so more readers at once need more processes.",
    )
    _add_db(serve)
    serve.set_defaults(func=cmd_serve)

    from queries import USER_ROLES

    user = sub.add_parser("user", help="add, remove or list the users who may sign in")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    users_help = "users file (default: $IME_USERS, else data/users.toml)"
    add = user_sub.add_parser("add", help="add a user (the password is stored as an argon2id hash)")
    add.add_argument("name", help="username: lower-case letters, digits or . _ @ -")
    add.add_argument("--role", required=True, choices=USER_ROLES, help="what the user may see")
    add.add_argument("--examiner", metavar="ID",
                     help="examiner_id an examiner user is (required for --role examiner)")
    add.add_argument(
        "--insurer", action="append", metavar="ID",
        help="insurer_id an insurer user may see (repeatable; required for --role insurer)",
    )
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    add.add_argument("--no-password", action="store_true",
                     help="no password: the user signs in through the identity provider only")
    add.add_argument("--email", help="email the identity provider (OIDC) signs this user in with")
    add.add_argument("--oidc-subject", help="the identity provider's `sub` for this user")
    add.add_argument("--users", help=users_help)
    add.set_defaults(func=cmd_user_add)
    remove = user_sub.add_parser("remove", help="remove a user")
    remove.add_argument("name")
    remove.add_argument("--users", help=users_help)
    remove.set_defaults(func=cmd_user_remove)
    listing = user_sub.add_parser("list", help="list the users and how each signs in")
    listing.add_argument("--users", help=users_help)
    listing.set_defaults(func=cmd_user_list)

    audit_parser = sub.add_parser("audit", help="check the audit log")
    audit_sub = audit_parser.add_subparsers(dest="audit_command", required=True)
    audit_verify = audit_sub.add_parser(
        "verify", help="check the audit log's keyed hash chain end to end",
        description="Exit 0 with 'N entries, chain intact', or 1 naming the first entry "
                    "edited, inserted or removed, or the newest entry missing.",
    )
    audit_verify.add_argument("--audit-db", metavar="FILE",
                              help="audit database (default: $IME_AUDIT_DB, else "
                                   "data/audit.duckdb)")
    audit_verify.set_defaults(func=cmd_audit_verify)

    from access.roles import EXPORTABLE_TABLES
    from outputs.files import FORMATS

    export = sub.add_parser(
        "export",
        help="an aggregate table as a role may see it, with data dictionary and metadata",
        description="Write an aggregate table as ROLE may see it (researcher: pseudonyms, "
                    "small-cell suppression, counts rounded to a multiple of k, periods of "
                    "whole calendar years; insurer: own cases, and market aggregates "
                    "suppressed and rounded), beside it <stem>.dictionary.csv and "
                    "<stem>.metadata.json. "
                    "Every export is recorded in the audit log.",
    )
    export.add_argument("what", choices=EXPORTABLE_TABLES, help="the table to export")
    export.add_argument("--role", choices=ROLES, default="regulator",
                        help="whose view to export (default: regulator)")
    export.add_argument("--insurer", action="append", metavar="ID",
                        help="insurer_id whose cases an insurer sees (repeatable; required "
                             "with --role insurer)")
    export.add_argument("--format", choices=FORMATS,
                        help="file format (default: from --out's suffix, else csv)")
    export.add_argument("--out", help="table file (default: exports/WHAT-ROLE.FORMAT)")
    export.add_argument("--k", type=int, default=11,
                        help="suppression threshold: counts 1 to k-1 are suppressed (default "
                             "11; can be raised, never lowered)")
    export.add_argument("--by", action="append", metavar="FEATURE",
                        help="crosstab only, twice: the two features to cross (jurisdiction, "
                             "claim_type, body_part, specialty, requested_by, year, quarter)")
    _add_filters(export)
    _add_db(export)
    export.set_defaults(func=cmd_export)

    report = sub.add_parser(
        "report", help="audit pack for regulators: an examiner's report or the panel report",
        description="Write a self-contained HTML audit report (and with --pdf a PDF beside "
                    "it): every measure against peers with charts, intervals and the method "
                    "in words, the data snapshot hash, and a section for the examiner's reply.",
    )
    report_sub = report.add_subparsers(dest="kind", required=True)
    one = report_sub.add_parser("examiner", help="one examiner's audit report")
    one.add_argument("examiner_id", help="the examiner's id")
    panel = report_sub.add_parser("panel", help="every flagged examiner: summary and sections")
    for parser_ in (one, panel):
        parser_.add_argument("--out", help="HTML file (default: reports/examiner-ID-HASH.html, "
                                           "the id reduced to letters, digits, - and _, or "
                                           "reports/panel.html)")
        parser_.add_argument("--pdf", action="store_true",
                             help="also print it to PDF (same name, .pdf) in headless Chromium")
        _add_filters(parser_)
        _add_db(parser_)
        parser_.set_defaults(func=cmd_report)
    _add_review_parsers(sub)
    return parser


def _add_review_parsers(sub) -> None:
    from access.reviews import DEFAULT_DAYS

    review = sub.add_parser(
        "review", help="examiner reviews: the right of reply before an examiner is published",
        description="Open a review (freeze the examiner's figures, with the snapshot hash and a "
                    "deadline), record a reply received by mail, close it, or list every "
                    "review with its status (open, replied, closed, expired). Reviews are kept "
                    "beside the audit log ($IME_REVIEWS_DB, else reviews.duckdb beside "
                    "$IME_AUDIT_DB), so a later load never changes them; every action is in "
                    "the audit log.",
    )
    review_sub = review.add_subparsers(dest="review_command", required=True)
    opening = review_sub.add_parser("open", help="freeze the examiner's figures and open a review")
    opening.add_argument("examiner_id", help="the examiner's id")
    opening.add_argument("--days", type=int, default=DEFAULT_DAYS,
                         help=f"days the examiner has to reply (default: {DEFAULT_DAYS})")
    _add_db(opening)
    replying = review_sub.add_parser("reply", help="record a reply received outside the dashboard")
    replying.add_argument("examiner_id", help="the examiner's id")
    replying.add_argument("--text", required=True, metavar="FILE",
                          help="UTF-8 text file holding the reply")
    closing = review_sub.add_parser("close", help="close the examiner's review")
    closing.add_argument("examiner_id", help="the examiner's id")
    review_sub.add_parser("list", help="every review with its status and deadline")
    review.set_defaults(func=cmd_review)

    publish = sub.add_parser(
        "publish", help="a static public site: market figures, and examiners whose review ended",
        description="Write a self-contained HTML site (no server, no external asset) and the "
                    "CSV of every table it shows: market figures with intervals, and, for each "
                    "examiner whose review is closed or expired, their measures against peers "
                    "with their reply. Counts follow the public disclosure rules (suppressed "
                    "below 11, rounded to multiples of 11); no claimant data.",
    )
    publish.add_argument("--out", required=True, metavar="DIR", help="folder to write the site to")
    _add_db(publish)
    publish.set_defaults(func=cmd_publish)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
