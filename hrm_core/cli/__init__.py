"""The `hrm-dlp` command line. Nothing in the engine imports from here."""
