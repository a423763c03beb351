"""What leaves the database: export tables and files, the audit pack, safe file names."""
