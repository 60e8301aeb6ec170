"""The one exception a subcommand raises for bad input."""


class CliError(Exception):
    """Bad input or an unrecoverable condition: printed as one line, exit status 2."""
