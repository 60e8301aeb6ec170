"""``macrorig config check FILE``: validate a configuration file and summarise it."""

from __future__ import annotations

import argparse
import sys
import textwrap

from rig.config import Config, ConfigError, load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="check a configuration file")
    actions = parser.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="validate FILE: OK and a summary, or its problems")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{args.file}: {problem}", file=sys.stderr)
        return 2
    print("OK")
    print(summary(config))
    return 0


def summary(config: Config) -> str:
    """One paragraph: mechanics, limits, pins, camera and data directory."""
    rail, light, camera = config.rail, config.light, config.camera
    pins = rail.pins
    switches = ", ".join(
        f"{side} switch GPIO {pin}" if pin is not None else f"no {side} switch"
        for side, pin in (("min", pins.limit_min), ("max", pins.limit_max))
    )
    lamp = f"PWM at {light.frequency_hz:g} Hz, level {light.level:g}" if light.pwm else "on/off"
    text = (
        f"{rail.driver.upper()} driver, {rail.steps_per_rev} steps/rev × {rail.microsteps} "
        f"microsteps on a {rail.lead_mm:g} mm lead: {rail.steps_per_mm:g} steps/mm "
        f"({1000 / rail.steps_per_mm:.3f} µm per step), up to {rail.max_speed_mm_s:g} mm/s. "
        f"Travel 0–{rail.travel_mm:g} mm, soft limits {rail.soft_min_mm:g}–{rail.soft_max_mm:g} "
        f"mm, backlash {rail.backlash_mm:g} mm taken up {rail.approach}. "
        f"Pins: STEP GPIO {pins.step}, DIR GPIO {pins.dir}, ENABLE GPIO {pins.enable} "
        f"(active {'low' if rail.enable_active_low else 'high'}), {switches}; light GPIO "
        f"{light.pin} ({lamp}). Camera {camera.resolution[0]}×{camera.resolution[1]}, preview "
        f"{camera.preview_size[0]}×{camera.preview_size[1]}. Data in {config.data_dir}."
    )
    return textwrap.fill(text, width=88)
