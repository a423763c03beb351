"""Errors that stop a load."""


class LoadError(Exception):
    """A file or profile cannot be used at all: the load stops and the database is unchanged."""
