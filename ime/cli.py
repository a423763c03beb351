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

    try:
        report = load(
            [Path(p) for p in args.paths], database_path(args.db),
            Path(args.profile) if args.profile else None, progress=not args.json,
        )
    except LoadError as exc:
        print(f"ime load: nothing was changed: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.to_text())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    import dashboard

    app = Path(dashboard.__file__).parent / "app.py"
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
    ]
    # Replace this process, so that stopping `ime serve` stops the server itself.
    os.execve(sys.executable, argv, env)
    return 0  # not reached


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

    serve = sub.add_parser("serve", help="start the dashboard on localhost")
    serve.add_argument("--port", type=int, default=8501, help="port to listen on (default: 8501)")
    serve.add_argument(
        "--address", default="localhost",
        help="address to listen on (default: localhost; 0.0.0.0 serves other machines too)",
    )
    _add_db(serve)
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
