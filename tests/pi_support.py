"""A fake Raspberry Pi for the real-rig code paths: gpiozero's lgpio pins and the lgpio
pulser over the strict fake ``lgpio`` (``tests/fakes/lgpio.py``, modelled on lg v0.2.2),
with a carriage that counts the STEP pulses that played and presses the limit switches.
Trains play in virtual time, so homing over millimetres takes milliseconds and nothing
depends on the machine's load.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

from fakes.clock import VirtualClock

from rig.config import Config
from rig.rail.pulses_lgpio import LgpioPulser

FAKES = Path(__file__).parent / "fakes"
EXAMPLE = Path(__file__).parents[1] / "rig" / "examples" / "pi-hq-tmc2209.toml"
PI4, PI5 = 0xC03114, 0xD04170  # board revision codes (gpiozero's PiBoardInfo)
ENABLE, LED, STEP, DIR, LIMIT_MIN, LIMIT_MAX = 25, 18, 23, 24, 5, 6
LGPIO_MODULES = ("lgpio", "gpiozero.pins.lgpio", "rig.pins_lgpio")  # modules that import lgpio


class Pi(SimpleNamespace):
    """The fake Pi: ``lgpio`` (the fake module), ``clock``, ``chip`` the rig should use."""

    def attach_carriage(self, config: Config, at_mm: float) -> None:
        rail = config.rail
        travel = round(rail.travel_mm * rail.steps_per_mm)
        self.lgpio.carriage = self.lgpio.Carriage(
            chip=self.chip,
            step=STEP,
            dir=DIR,
            position=round(at_mm * rail.steps_per_mm),
            forward_level=0 if rail.invert_direction else 1,
            switches={LIMIT_MIN: lambda pos: pos <= 0, LIMIT_MAX: lambda pos: pos >= travel},
        )

    def claims_on(self, gpio: int) -> set[int]:
        """The chips on which ``gpio`` was claimed (the handle carries its chip)."""
        return {
            c[1] >> 16 for c in self.lgpio.calls if c[0].startswith("gpio_claim") and c[2] == gpio
        }


def fake_pi(monkeypatch, revision: int, chips: set[int]) -> Pi:
    monkeypatch.syspath_prepend(str(FAKES))
    for name in LGPIO_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    import gpiozero.pins.local as local
    import lgpio

    clock = VirtualClock()
    lgpio.reset(new_clock=clock)
    lgpio.chips_present.update(chips)
    monkeypatch.setattr(local, "get_pi_revision", lambda: revision)
    # gpiozero 2.0.1 LGPIOFactory picks chip 4 on a Pi 5 if /dev/gpiochip4 exists.
    import gpiozero.pins.lgpio as gz_lgpio

    dev = SimpleNamespace(
        path=SimpleNamespace(exists=lambda p: p in {f"/dev/gpiochip{c}" for c in chips})
    )
    monkeypatch.setattr(gz_lgpio, "os", dev)
    monkeypatch.setitem(LgpioPulser.__init__.__kwdefaults__, "clock", clock)
    chip = 4 if revision == PI5 and 4 in chips else 0
    return Pi(lgpio=lgpio, clock=clock, chip=chip)


def forget_fake_pi() -> None:
    """Drop the modules that imported the fake ``lgpio`` (call after the test)."""
    for name in LGPIO_MODULES:
        sys.modules.pop(name, None)


def example_config(tmp_path: Path, **sections: dict[str, object]) -> Path:
    """The shipped example config, data in ``tmp_path``; ``rail={...}``, ``camera={...}``...
    override keys of those sections (a key that is only commented out is added)."""
    text = EXAMPLE.read_text()
    for section, values in sections.items():
        start = text.index(f"[{section}]\n")
        end = text.find("\n[", start + 1)
        end = len(text) if end < 0 else end
        body = text[start:end]
        for key, value in values.items():
            line = f"{key} = {json.dumps(value)}"
            body, found = re.subn(rf"^{key} = .*$", line, body, count=1, flags=re.M)
            if not found:
                body = body.replace(f"[{section}]\n", f"[{section}]\n{line}\n", 1)
        text = text[:start] + body + text[end:]
    text = text.replace('# dir = "~/.local/share/macrorig"', f'dir = "{tmp_path / "data"}"')
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path
