"""The `ime` command (SPEC section 4)."""

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
    from ime.demo import generate

    summary = generate(Path(args.out), n_exams=args.exams, seed=args.seed, fmt=args.format, progress=True)
    print(f"Wrote demo data to {args.out}:")
    for name, n in summary.rows.items():
        print(f"  {name:<18} {n:>12,} rows")
    print(f"in {summary.seconds:.1f} s (truth.csv lists the planted patterns; the product never reads it)")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from etl.errors import LoadError
    from etl.load import load
    from ime.flags import store_flags

    try:
        report = load(
            [Path(p) for p in args.paths], database_path(args.db),
            Path(args.profile) if args.profile else None, progress=not args.json,
            after_build=store_flags,
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
        "--server.port", str(args.port),
        "--server.address", args.address,
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",
    ]
    # Replace this process, so that stopping `ime serve` stops the server itself.
    os.execve(sys.executable, argv, env)
    return 0  # not reached


def cmd_flags(args: argparse.Namespace) -> int:
    import queries
    from ime.flags import DETAIL_COLUMNS, MEASURES, OUTPUT_COLUMNS, compute_flags, explain, flags_for_view

    try:
        con = queries.connect(database_path(args.db))
    except FileNotFoundError as exc:
        print(f"ime flags: {exc}", file=sys.stderr)
        return 2
    flags = (
        compute_flags(con, measures=tuple(args.measure)) if args.measure else flags_for_view(con)
    )
    if args.explain:
        print(explain(flags, args.explain))
        return 0
    table = flags[OUTPUT_COLUMNS + DETAIL_COLUMNS]
    if args.out:
        table.to_csv(args.out, index=False)
        n_flagged = int(table["flagged"].sum())
        print(f"Wrote {len(table):,} rows ({n_flagged} flagged) to {args.out}", file=sys.stderr)
    else:
        table.to_csv(sys.stdout, index=False)
    return 0


def _users_file(args: argparse.Namespace) -> Path:
    from ime.auth import users_path

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
    from ime import audit, auth

    path = _users_file(args)
    try:
        user = auth.add_user(
            args.name, args.role, args.insurer or (), _read_password(args),
            email=args.email, oidc_subject=args.oidc_subject, path=path,
        )
    except ValueError as exc:
        print(f"ime user add: {exc}", file=sys.stderr)
        return 2
    detail = {"user": user.username, "role": user.role, "insurer_ids": list(user.insurer_ids)}
    audit.record("user_added", _operator(), None, detail)
    print(f"Added {user.username} ({user.role}) to {path}")
    return 0


def cmd_user_remove(args: argparse.Namespace) -> int:
    from ime import audit, auth

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
    from ime import auth

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
        insurers = ",".join(user.insurer_ids) or "-"
        print(f"{user.username:<24} {user.role:<11} {insurers:<24} {' '.join(sign_in)}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from ime.validation import write_report

    realdata = Path(args.realdata) if args.realdata else None
    table = write_report(Path(args.out), tuple(args.seeds), args.exams, realdata, progress=True)
    print(table.to_string(index=False))
    print(f"Wrote {args.out}")
    return 0


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

    load = sub.add_parser("load", help="load files or folders into the database, quarantining bad rows")
    load.add_argument("paths", nargs="+", help="files (.csv, .parquet, .xlsx) or folders")
    load.add_argument("--profile", help="mapping profile (TOML) for files not in the canonical format")
    load.add_argument("--json", action="store_true", help="print the load report as JSON")
    _add_db(load)
    load.set_defaults(func=cmd_load)

    from ime.flags import MEASURES

    flags = sub.add_parser("flags", help="examiner flags per measure as CSV (case-mix adjusted, FDR-controlled)")
    flags.add_argument(
        "--measure", action="append", choices=MEASURES,
        help="measure to compute (repeatable; default: all)",
    )
    flags.add_argument("--out", help="CSV file to write (default: standard output)")
    flags.add_argument("--explain", metavar="EXAMINER", help="print the reasoning for one examiner in words")
    _add_db(flags)
    flags.set_defaults(func=cmd_flags)

    validate = sub.add_parser(
        "validate", help="run the flags on demo data with planted patterns and write docs/validation.md"
    )
    validate.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="demo seeds (default: 1 2 3)")
    validate.add_argument("--exams", type=int, default=50_000, help="exams per data set (default: 50,000)")
    validate.add_argument("--out", default="docs/validation.md", help="report to write")
    validate.add_argument(
        "--realdata", default="../shared/realdata",
        help="folder of the public data sets, for the SSA judges comparison (skipped if absent)",
    )
    validate.set_defaults(func=cmd_validate)

    serve = sub.add_parser("serve", help="start the dashboard on localhost")
    serve.add_argument("--port", type=int, default=8501, help="port to listen on (default: 8501)")
    serve.add_argument(
        "--address", default="localhost",
        help="address to listen on (default: localhost; 0.0.0.0 serves other machines too)",
    )
    _add_db(serve)
    serve.set_defaults(func=cmd_serve)

    from queries import ROLES

    user = sub.add_parser("user", help="add, remove or list the users who may sign in")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    users_help = "users file (default: $IME_USERS, else data/users.toml)"
    add = user_sub.add_parser("add", help="add a user (the password is stored as an argon2id hash)")
    add.add_argument("name", help="username: lower-case letters, digits or . _ @ -")
    add.add_argument("--role", required=True, choices=ROLES, help="what the user may see")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
