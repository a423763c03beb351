"""imestats."""
