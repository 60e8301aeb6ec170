"""``macrorig serve``: run the rig's daemon (web page + API + job runner).

A subcommand of the one ``macrorig`` command line that lives with the web layer: it is
found through the ``macrorig.commands`` entry-point group (pyproject.toml), so ``rig``
never imports ``web``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rig.cli.errors import CliError
from rig.config import ConfigError, load_config


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run the rig: web page, API and job runner",
        description="Run the daemon. On a Pi it drives the real rail, camera and light; "
        "--sim runs the simulated bench instead (mock pins, rendered camera).",
    )
    p.add_argument("--sim", action="store_true", help="use the simulated bench (no Pi needed)")
    p.add_argument("--host", help="address to listen on (default from [server], 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default from [server], 8000)")
    p.add_argument("--data", type=Path, help="data folder (jobs, database, token)")
    p.add_argument("--config", type=Path, help="TOML configuration file")
    p.add_argument(
        "--no-auth", action="store_true", help="no login (only when listening on 127.0.0.1)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rig.systemd import journal_logging
    from web.daemon import DaemonError, serve, with_data_dir

    journal_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        config = with_data_dir(load_config(args.config), args.data)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"{args.config}: {exc.strerror}") from None
    host = args.host or config.server.host
    port = args.port or config.server.port
    if not 0 < port < 65536:
        raise CliError(f"--port {port}: use 1–65535")
    try:
        return serve(config, simulate=args.sim, host=host, port=port, no_auth=args.no_auth)
    except DaemonError as exc:
        raise CliError(str(exc)) from None
