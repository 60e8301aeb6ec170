"""The ``macrorig`` command line: one entry point, one module per subcommand.

Each subcommand module exposes ``register(subparsers)`` which adds its parser and
sets ``func`` to a callable ``(args) -> int``.  Bad input raises :class:`CliError`
(one line on stderr, exit status 2) — never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from rig.cli.errors import CliError

# Order is the order shown in --help.
SUBCOMMANDS: tuple[str, ...] = ("serve", "stack", "rail", "trigger", "config", "sim")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; given the ``command`` about to run, only that subcommand's
    module is imported (the others are bare names), so ``macrorig stack`` on a Pi Zero
    does not pay for the web server's, the HTTP client's or GPIO's imports."""
    parser = argparse.ArgumentParser(
        prog="macrorig",
        description="Focus-stacking macro rig: rail, camera, light, stacking and a phone web page.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        if command in SUBCOMMANDS and name != command:
            subparsers.add_parser(name)
            continue
        module = importlib.import_module(f"rig.cli.{name}_cmd")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # Every HTTP request at INFO would bury the one line a command prints.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"macrorig {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"macrorig {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
