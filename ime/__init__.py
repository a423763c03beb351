"""The command line: `ime` and its subcommands (ime/cli.py)."""
