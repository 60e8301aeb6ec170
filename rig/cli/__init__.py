"""The ``macrorig`` command line: one entry point, one module per subcommand.

Each subcommand has a ``register(subparsers)`` which adds its parser and sets ``func``
to a callable ``(args) -> int``.  The rig's own are the modules ``rig.cli.<name>_cmd``;
others (``serve``, in ``web/``) are found through the ``macrorig.commands``
entry-point group declared in pyproject.toml, so the dependency points from ``web`` to
``rig`` only.  Bad input raises :class:`CliError` (one line on stderr, exit status 2) —
never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any

from rig.cli.errors import CliError

# The rig's own subcommands, in the order --help shows them (after the plug-ins').
SUBCOMMANDS: tuple[str, ...] = ("stack", "restack", "rail", "trigger", "config", "sim")
ENTRY_POINT_GROUP = "macrorig.commands"

Register = Callable[[Any], None]


def subcommands() -> dict[str, Callable[[], Register]]:
    """Every subcommand's name → how to import its ``register`` (nothing imported yet)."""
    found: dict[str, Callable[[], Register]] = {
        ep.name: ep.load for ep in entry_points(group=ENTRY_POINT_GROUP)
    }
    for name in SUBCOMMANDS:
        found[name] = _own(name)
    return found


def _own(name: str) -> Callable[[], Register]:
    def load() -> Register:
        register: Register = importlib.import_module(f"rig.cli.{name}_cmd").register
        return register

    return load


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
    available = subcommands()
    for name, load in available.items():
        if command in available and name != command:
            subparsers.add_parser(name)
            continue
        load()(subparsers)
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
