"""``macrorig rail status|move MM|jog ±MM|home|release``: drive the focus rail from the shell.

Decision: the CLI acts on the hardware directly, holding the rig lock
(``<data>/rig.lock``, an exclusive ``fcntl.flock``) for as long as it runs.
The daemon holds the same lock for its whole life; while it runs, these commands
go through its HTTP API instead (``[server]`` address, token from
``$MACRORIG_TOKEN`` or ``<data>/api-token``), so the daemon stays the one owner of
the pins — and a move during a stack is refused there with a clear message.

``--sim`` drives the simulated bench instead (lock ``<data>/sim/rig.lock``, so a
simulated daemon and a real one never block each other); its rail and carriage
positions persist in ``<data>/sim/`` between invocations, like a real rail's would.
Ctrl-C during a move decelerates to a stop and keeps the position exact.

``release`` is the service's ``ExecStopPost=``: after the daemon has gone (or
crashed), it drives the stepper driver disabled and the LED off.  It claims only
the ENABLE and LED pins (no camera, no STEP/DIR, no switches) and never waits
for the rig lock: if the lock is held, its holder is alive and owns the pins,
so ``release`` says so and leaves them alone (exit status 0 either way).
When it exits the pins return to inputs, and the pull-up on ENABLE and the
pull-down on the LED driver's input keep both off (see the README, Real rig).
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from rig.cli.errors import CliError
from rig.config import Config, ConfigError, load_config
from rig.devices import (
    HardwareError,
    RigInUse,
    lock_path,
    open_devices,
    release_outputs,
    rig_lock,
)
from rig.rail import FocusRail, MoveResult, RailError

T = TypeVar("T")
DAEMON_RUNNING = "the macrorig daemon owns the rail"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("rail", help="query, move, jog or home the focus rail")
    actions = parser.add_subparsers(dest="rail_action", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help="configuration file (default: built-in)")
    common.add_argument("--sim", action="store_true", help="use the simulated bench")

    status = actions.add_parser("status", parents=[common], help="position, driver and switches")
    status.set_defaults(func=lambda args: _with_rail(args, _status))
    move = actions.add_parser("move", parents=[common], help="move to MM (absolute)")
    move.add_argument("mm", type=float, metavar="MM")
    move.set_defaults(func=lambda args: _with_rail(args, _move_to))
    jog = actions.add_parser("jog", parents=[common], help="move by ±MM (relative)")
    jog.add_argument("mm", type=float, metavar="±MM")
    jog.set_defaults(func=lambda args: _with_rail(args, _jog))
    home = actions.add_parser("home", parents=[common], help="home to the limit switch")
    home.set_defaults(func=lambda args: _with_rail(args, _home))
    release = actions.add_parser(
        "release",
        parents=[common],
        help="disable the driver and switch the LED off (the service's ExecStopPost)",
    )
    release.set_defaults(func=_release)


def _with_rail(args: argparse.Namespace, action: Callable[[FocusRail, Any], int]) -> int:
    mm = getattr(args, "mm", 0.0)
    if not math.isfinite(mm):
        raise CliError(f"{mm} is not a distance in millimetres")
    config = _load(args.config)
    try:
        with (
            rig_lock(config, args.sim),
            open_devices(config, args.sim, with_camera=False) as devices,
        ):
            return action(devices.rail, args)
    except RigInUse:
        return _through_daemon(config, args)
    except (HardwareError, RailError) as exc:
        raise CliError(str(exc)) from None


def _through_daemon(config: Config, args: argparse.Namespace) -> int:
    """The daemon owns the rail: ask it (same commands, same output)."""
    from rig.client import Client, ClientError, daemon_url, local_token

    action = args.rail_action
    try:
        with Client(daemon_url(config), local_token(config.data_dir)) as client:
            if action == "move":
                client.request("POST", "/api/rail/move", json={"mm": args.mm})
            elif action == "jog":
                client.request("POST", "/api/rail/jog", json={"mm": args.mm})
            elif action == "home":
                client.request("POST", "/api/rail/home")
            status = client.wait_rail_idle()
    except ClientError as exc:
        raise CliError(f"{exc} ({DAEMON_RUNNING})") from None
    if status.get("manual_error"):
        raise CliError(status["manual_error"])
    state = status["state"]
    if action == "status":
        print(f"position     {status['position_mm']:.4f} mm ({state}) — via the daemon")
        print(f"driver       {'enabled' if status['enabled'] else 'disabled'}")
        return 0
    done = "homed; parked at" if action == "home" else "moved to"
    print(f"{done} {status['position_mm']:.4f} mm ({state}) — via the daemon")
    return 0


def _load(path: str | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise CliError(f"{exc} (see `macrorig config check`)") from None


def _release(args: argparse.Namespace) -> int:
    config = _load(args.config)
    try:
        with rig_lock(config, args.sim):
            release_outputs(config, args.sim)
    except RigInUse:
        # A live holder (the daemon, or a CLI command) owns the pins and will make them
        # safe itself; touching them now would fight it.  Not an error for ExecStopPost.
        print(
            f"{lock_path(config, args.sim)} is held by a running macrorig (the daemon or a "
            "command); it owns the pins, left them alone"
        )
        return 0
    except HardwareError as exc:
        raise CliError(str(exc)) from None
    pins = config.rail.pins
    sim = " (simulated)" if args.sim else ""
    print(f"driver disabled (ENABLE GPIO {pins.enable}), LED off (GPIO {config.light.pin}){sim}")
    return 0


def _status(rail: FocusRail, _args: Any) -> int:
    status = rail.status()
    low, high = status["soft_limits_mm"]
    switches = ", ".join(
        f"{side}: {'not fitted' if state is None else 'PRESSED' if state else 'open'}"
        for side, state in (("min", status["limit_min"]), ("max", status["limit_max"]))
    )
    print(f"position     {status['position_mm']:.4f} mm ({status['state']})")
    print(f"driver       {'enabled' if status['enabled'] else 'disabled'}")
    print(f"switches     {switches}")
    print(f"soft limits  {low:.3f} – {high:.3f} mm")
    print(f"resolution   {status['steps_per_mm']:g} steps/mm")
    return 0


def _move_to(rail: FocusRail, args: Any) -> int:
    return _report(_interruptible(rail, lambda: rail.move_to(args.mm)), "moved to")


def _jog(rail: FocusRail, args: Any) -> int:
    return _report(_interruptible(rail, lambda: rail.move_by(args.mm)), "moved to")


def _home(rail: FocusRail, _args: Any) -> int:
    return _report(_interruptible(rail, rail.home), "homed; parked at")


def _report(result: MoveResult, done: str) -> int:
    state = "known" if result.known else "unknown"
    if result.stopped:
        print(f"stopped at {result.position_mm:.4f} mm ({state})")
        return 1
    late = f", {result.late_steps} late steps" if result.late_steps else ""
    print(f"{done} {result.position_mm:.4f} mm ({state}{late})")
    return 0


def _interruptible(rail: FocusRail, operation: Callable[[], T]) -> T:
    """Run ``operation`` in a worker so Ctrl-C can ask the rail to decelerate and stop."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = operation()
        except BaseException as exc:  # handed back to the main thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="rail-move", daemon=True)
    worker.start()
    try:
        worker.join()  # interruptible by Ctrl-C; no polling to steal the GIL from the stepper
    except KeyboardInterrupt:
        rail.stop()
        worker.join()
        print(f"stopped at {rail.position_mm:.4f} mm ({rail.state})", file=sys.stderr)
        raise
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value
