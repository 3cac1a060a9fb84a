"""One module per ``capleak`` subcommand (see :mod:`edge.cli`)."""
