"""A fake ``lgpio``, modelled on lg v0.2.2 (github.com/joan2937/lg) and as strict as it.

Every behaviour names the C function (``lgGpio.c``, ``lgPthTx.c``) or the Python
wrapper (``PY_LGPIO/lgpio_extra.py``) it models.  It covers what the rail's
lgpio back-end and gpiozero's ``LGPIOFactory``/``LGPIOPin`` (2.0.1) call: chips
and handles, line claims with their initial level, reads and writes, alerts and
callbacks (limit switches), and ``tx_pulse``/``tx_pwm`` queues played by a model
of lgpio's transmit thread.

Time comes from :data:`clock` (real ``perf_counter_ns`` unless a test installs
a :class:`~tests.fakes.clock.VirtualClock`); queues are played lazily, i.e.
brought up to date whenever the fake is called.  A :class:`Carriage` may be
attached: it counts the STEP pulses that played (with DIR) and drives limit
switch inputs, so homing and limit hits work against the fake.

Module-level state, like the real module; call :func:`reset` between tests.
Test-side inspection: :data:`calls`, :data:`events` (every level a line was
driven to), :data:`played` (every train that started), :func:`set_input`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# -- constants (lgpio.h, lgpio_extra.py) -----------------------------------------
TX_PWM = 0
TX_WAVE = 1
RISING_EDGE = 1
FALLING_EDGE = 2
BOTH_EDGES = 3
SET_ACTIVE_LOW = 4
SET_OPEN_DRAIN = 8
SET_OPEN_SOURCE = 16
SET_PULL_UP = 32
SET_PULL_DOWN = 64
SET_PULL_NONE = 128
SET_BIAS_PULL_UP, SET_BIAS_PULL_DOWN, SET_BIAS_DISABLE = SET_PULL_UP, SET_PULL_DOWN, SET_PULL_NONE

LG_MIN_TX_DELAY_US = 10  # lgPthTx.c lgMinTxDelay: a cycle must last longer than this
LG_TX_BUF = 10  # lgPthTx.h: queue entries per GPIO, the playing one included
TX_THREAD_MAX_SLEEP_NS = 20_000_000  # lgPthTx.c lgPthTx: "run at least fifty times a second"
LINES = 54  # lines on a Pi's gpiochip0 (BCM2835/2711: 54; a Pi 5's gpiochip4: 54)

# lgGpioGetMode: kernel line flags in bits 0-7 (xMakeStatus), lgpio's mode << 8.
_KERNEL, _OUT, _PULL_UP_BIT, _PULL_DOWN_BIT, _BIAS_OFF_BIT = 1, 2, 32, 64, 128
_LG_INPUT, _LG_OUTPUT, _LG_ALERT = 1, 2, 4


class error(Exception):  # lgpio_extra.py: raised by _u2i() for a negative status
    pass


# Texts from lgErr.c.
BAD_PWM_MICROS = "bad PWM micros"
TX_QUEUE_FULL = "TX queue full"
GPIO_BUSY = "GPIO busy"
NOT_ALLOCATED = "GPIO not allocated"
BAD_HANDLE = "unknown handle"
BAD_GPIO = "bad GPIO number"
CANNOT_OPEN_CHIP = "can not open gpiochip"
BAD_PWM_FREQ = "bad PWM frequency"
BAD_PWM_DUTY = "bad PWM dutycycle"
NOT_AN_OUTPUT = "GPIO not set as an output"


class _SystemClock:
    def now_ns(self) -> int:
        return time.perf_counter_ns()


clock: Any = _SystemClock()
chips_present: set[int] = {0}  # /dev/gpiochipN that exist


@dataclass
class Line:
    owner: int | None = None  # the handle that claimed it (the kernel's line request)
    mode: int = 0  # _LG_INPUT / _LG_OUTPUT / _LG_ALERT
    flags: int = 0  # SET_* flags of the claim
    level: int = 0  # level driven while an output
    external: int | None = None  # level driven from outside (a switch), None: floating

    def read(self) -> int:
        if self.mode & _LG_OUTPUT:
            return self.level
        if self.external is not None:
            return self.external
        return 1 if self.flags & SET_PULL_UP else 0


@dataclass
class Entry:
    on_us: int
    off_us: int
    cycles: int  # -1: until replaced (lgGpioCreateTxRec: cycles 0 means infinite)
    queued_ns: int

    @property
    def cycle_ns(self) -> int:
        return (self.on_us + self.off_us) * 1000


@dataclass
class Played:
    """One queue entry that began to play: its rising edges are at ``start + k·cycle``."""

    chip: int
    gpio: int
    on_us: int
    off_us: int
    cycles: int
    start_ns: int
    end_ns: int | None = None  # when it stopped (finished, replaced or cancelled)

    def edges_until(self, t_ns: int) -> int:
        if self.on_us == 0 or t_ns < self.start_ns:
            return 0
        if self.end_ns is not None:
            t_ns = min(t_ns, self.end_ns - 1)
        count = (t_ns - self.start_ns) // ((self.on_us + self.off_us) * 1000) + 1
        return count if self.cycles < 0 else min(count, self.cycles)


@dataclass
class TxRec:
    """lgPthTx.h lgTxRec_t for one (chip, gpio): a queue of entries played in order."""

    chip: int
    gpio: int
    entries: list[Entry]
    entry_start_ns: int  # when entries[0]'s first cycle starts
    active: bool = True
    playing: Played | None = None


@dataclass
class Callback:
    """lgpio_extra.py _callback: func(chip, gpio, level, timestamp) on matching edges."""

    chip: int
    gpio: int
    edge: int
    func: Callable[[int, int, int, int], Any] | None
    tally: int = 0

    def cancel(self) -> None:
        with _lock:
            if self in _callbacks:
                _callbacks.remove(self)


@dataclass
class Carriage:
    """A rail carriage moved by the STEP pulses that played, reading DIR at each edge.

    ``switches`` maps a GPIO to a test of the position (steps) that is true while
    that switch is pressed; a pressed switch drives its input to ``pressed_level``.
    """

    chip: int
    step: int
    dir: int
    position: int = 0
    forward_level: int = 1
    pressed_level: int = 0
    switches: dict[int, Callable[[int], bool]] = field(default_factory=dict)
    counted: int = 0  # edges counted from played[first_open:]
    first_open: int = 0  # played entries before this one are fully counted


_lock = threading.RLock()
calls: list[tuple[Any, ...]] = []
events: list[tuple[int, int, int, int]] = []  # (t ns, chip, gpio, level driven)
played: list[Played] = []
_handles: dict[int, int] = {}  # handle -> chip
_lines: dict[tuple[int, int], Line] = {}
_tx: dict[tuple[int, int], TxRec] = {}
_callbacks: list[Callback] = []
_pending_callbacks: list[tuple[Callback, int, int]] = []
_next_handle = 0
_thread_epoch_ns = 0
carriage: Carriage | None = None
on_tx_pulse: list[Callable[[Played | Entry], Any]] = []  # called after each queued tx_pulse
fail_next: dict[str, str] = {}  # function name -> error text (inject a failure once)


def reset(*, new_clock: Any = None) -> None:
    global _next_handle, _thread_epoch_ns, carriage, clock
    with _lock:
        clock = new_clock if new_clock is not None else _SystemClock()
        chips_present.clear()
        chips_present.add(0)
        calls.clear()
        events.clear()
        played.clear()
        _handles.clear()
        _lines.clear()
        _tx.clear()
        _callbacks.clear()
        _pending_callbacks.clear()
        on_tx_pulse.clear()
        fail_next.clear()
        _next_handle = 0
        _thread_epoch_ns = clock.now_ns()
        carriage = None


# -- test-side helpers ------------------------------------------------------------


def new_process() -> None:
    """What a new process sees (each CLI command is one): the old one's handles, line
    requests, trains and callbacks went with it; lines float back to inputs."""
    with _lock:
        now = clock.now_ns()
        _update(now)
        for rec in _tx.values():
            if rec.active:
                _stop(rec, now)
        for line in _lines.values():
            line.owner, line.mode, line.flags = None, 0, 0
        _handles.clear()
        _callbacks.clear()
        _pending_callbacks.clear()


def set_input(chip: int, gpio: int, level: int | None) -> None:
    """Drive a line from outside (``None``: let it float to its pull)."""
    with _lock:
        _update(clock.now_ns())
        _set_external(chip, gpio, level)
    _fire_callbacks()


def level(chip: int, gpio: int) -> int:
    with _lock:
        _update(clock.now_ns())
        return _line(chip, gpio).read()


def driven_levels(chip: int, gpio: int) -> list[int]:
    """Every level the rig drove ``gpio`` to, in order (claims at a level included)."""
    with _lock:
        return [lvl for _t, c, g, lvl in events if (c, g) == (chip, gpio)]


def steps_played(chip: int, gpio: int) -> int:
    """Rising edges that have gone out on ``gpio`` so far."""
    with _lock:
        now = clock.now_ns()
        _update(now)
        return sum(p.edges_until(now) for p in played if (p.chip, p.gpio) == (chip, gpio))


def queued_ns(chip: int, gpio: int) -> int:
    """How long the train queued on ``gpio`` will still play (0: none)."""
    with _lock:
        now = clock.now_ns()
        _update(now)
        rec = _tx.get((chip, gpio))
        if rec is None or not rec.active or rec.entries[-1].cycles == -1:
            return 0
        first = rec.entries[0]
        left = rec.entry_start_ns + first.cycles * first.cycle_ns - now
        return left + sum(e.cycles * e.cycle_ns for e in rec.entries[1:])


def tx_active(chip: int, gpio: int) -> bool:
    with _lock:
        _update(clock.now_ns())
        rec = _tx.get((chip, gpio))
        return rec is not None and rec.active


# -- chips and handles (lgGpio.c lgGpiochipOpen/Close; lgpio_extra.py gpiochip_open) --


def gpiochip_open(gpiochip: int) -> int:
    global _next_handle
    with _lock:
        calls.append(("gpiochip_open", gpiochip))
        _maybe_fail("gpiochip_open")
        if gpiochip not in chips_present:
            raise error(CANNOT_OPEN_CHIP)
        handle = _next_handle | (gpiochip << 16)  # the wrapper folds the chip into the handle
        _next_handle += 1
        _handles[handle] = gpiochip
        return handle


def gpiochip_close(handle: int) -> int:
    with _lock:
        calls.append(("gpiochip_close", handle))
        chip = _chip(handle)
        _update(clock.now_ns())
        # lgHdlFree closes the chip: its line requests go (the lines read as inputs
        # again) and lgPthTxStop ends its trains.
        for (c, gpio), line in _lines.items():
            if c == chip and line.owner == handle:
                _free(chip, gpio)
        del _handles[handle]
        return 0


# -- claims (lgGpio.c xClaim, xSetAsOutput, xSetAsInput, xSetAsFree, lgGpioClaimAlert) --


def gpio_claim_output(handle: int, gpio: int, level: int = 0, lFlags: int = 0) -> int:
    with _lock:
        calls.append(("gpio_claim_output", handle, gpio, level))
        chip = _chip(handle)
        _maybe_fail("gpio_claim_output")
        line = _claimable(chip, gpio, handle)
        if line.mode & _LG_OUTPUT:
            return 0  # xSetAsOutput: "nothing to do, already an output" (level unchanged)
        _free(chip, gpio)  # a singleton is freed first, then claimed with its level at once
        line.owner, line.mode, line.flags = handle, _LG_OUTPUT, lFlags
        _drive(chip, gpio, line, 1 if level else 0)
        return 0


def gpio_claim_input(handle: int, gpio: int, lFlags: int = 0) -> int:
    with _lock:
        calls.append(("gpio_claim_input", handle, gpio, lFlags))
        chip = _chip(handle)
        line = _claimable(chip, gpio, handle)
        if line.mode & _LG_INPUT:
            return 0  # xSetAsInput: already an input, flags unchanged (gpiozero frees first)
        _free(chip, gpio)
        line.owner, line.mode, line.flags = handle, _LG_INPUT, lFlags
        return 0


def gpio_claim_alert(
    handle: int, gpio: int, eFlags: int, lFlags: int = 0, notify_handle: int | None = None
) -> int:
    with _lock:
        calls.append(("gpio_claim_alert", handle, gpio, eFlags, lFlags))
        chip = _chip(handle)
        line = _claimable(chip, gpio, handle)
        _free(chip, gpio)  # lgGpioClaimAlert: "set as alert auto free"
        line.owner, line.mode, line.flags = handle, _LG_INPUT | _LG_ALERT, lFlags
        return 0


def gpio_free(handle: int, gpio: int) -> int:
    with _lock:
        calls.append(("gpio_free", handle, gpio))
        chip = _chip(handle)
        line = _line(chip, gpio)
        if line.owner != handle or not line.mode:
            raise error(NOT_ALLOCATED)  # lgGpioFree: mode unknown
        _update(clock.now_ns())
        _free(chip, gpio)
        return 0


def gpio_get_mode(handle: int, gpio: int) -> int:
    with _lock:
        chip = _chip(handle)
        line = _line(chip, gpio)
        status = _KERNEL if line.owner is not None else 0
        if line.mode & _LG_OUTPUT:
            status |= _OUT
        if line.flags & SET_PULL_UP:
            status |= _PULL_UP_BIT
        elif line.flags & SET_PULL_DOWN:
            status |= _PULL_DOWN_BIT
        elif line.flags & SET_PULL_NONE:
            status |= _BIAS_OFF_BIT
        mine = line.mode if line.owner == handle else 0
        return status | (mine << 8)


def gpio_set_debounce_micros(handle: int, gpio: int, debounce_micros: int) -> int:
    with _lock:
        _chip(handle)
        return 0


# -- levels (lgGpio.c lgGpioRead, lgGpioWrite) -------------------------------------


def gpio_read(handle: int, gpio: int) -> int:
    with _lock:
        chip = _chip(handle)
        _update(clock.now_ns())
        line = _line(chip, gpio)
        if line.owner is None:  # lgGpioRead: an unclaimed line is claimed as an input
            line.owner, line.mode, line.flags = handle, _LG_INPUT, 0
        elif line.owner != handle:
            raise error(NOT_ALLOCATED)  # the claim fails: "GPIO not allocated"
        value = line.read()
    _fire_callbacks()
    return value


def _claim_as_output(chip: int, handle: int, gpio: int) -> Line:
    """A line written or transmitted on before it was claimed becomes ``handle``'s output
    (refused while another handle owns it)."""
    line = _line(chip, gpio)
    if not line.mode & _LG_OUTPUT:
        if line.owner is not None and line.owner != handle:
            raise error(GPIO_BUSY)
        _free(chip, gpio)
        line.owner, line.mode = handle, _LG_OUTPUT
    return line


def gpio_write(handle: int, gpio: int, level: int) -> int:
    with _lock:
        calls.append(("gpio_write", handle, gpio, level))
        chip = _chip(handle)
        _maybe_fail("gpio_write")
        now = clock.now_ns()
        _update(now)
        # lgGpioWrite: a line that is not an output is claimed as one, at this level.
        line = _claim_as_output(chip, handle, gpio)
        if gpio == (carriage.dir if carriage else None) and _tx_playing(chip, carriage.step):
            raise AssertionError("DIR changed while STEP pulses were playing")
        _drive(chip, gpio, line, 1 if level else 0)
    _fire_callbacks()
    return 0


# -- alerts (lgpio_extra.py callback) ----------------------------------------------


def callback(handle: int, gpio: int, edge: int = RISING_EDGE, func: Any = None) -> Callback:
    with _lock:
        chip = handle >> 16  # lgpio_extra.py callback: _callback(handle>>16, ...)
        cb = Callback(chip, gpio, edge, func)
        _callbacks.append(cb)
        return cb


# -- transmissions (lgGpio.c xSetAsPwm, lgTxPulse, lgTxPwm, lgTxBusy, lgTxRoom) ------


def tx_pulse(
    handle: int,
    gpio: int,
    pulse_on: int,
    pulse_off: int,
    pulse_offset: int = 0,
    pulse_cycles: int = 0,
) -> int:
    with _lock:
        calls.append(("tx_pulse", handle, gpio, pulse_on, pulse_off, pulse_offset, pulse_cycles))
        chip = _chip(handle)
        _maybe_fail("tx_pulse")
        now = clock.now_ns()
        _update(now)
        line = _line(chip, gpio)
        if not line.mode & _LG_OUTPUT:
            # xSetAsPwm: an unclaimed singleton becomes an output at 0
            _drive(chip, gpio, _claim_as_output(chip, handle, gpio), 0)
        rec = _tx.get((chip, gpio))
        cycles = pulse_cycles if pulse_cycles else -1
        entry = Entry(pulse_on, pulse_off, cycles, now)
        if rec is not None and rec.active:
            if not (pulse_on or pulse_off):
                # A cancel: the record stops where it is; the line keeps its level.
                _stop(rec, now)
                return 0
            if pulse_on + pulse_off <= LG_MIN_TX_DELAY_US:
                raise error(BAD_PWM_MICROS)
            if len(rec.entries) > 1 and rec.entries[-1].cycles == -1:
                rec.entries.pop()  # "delete prior pending entry if it has infinite cycles"
            if len(rec.entries) >= LG_TX_BUF:
                raise error(TX_QUEUE_FULL)
            rec.entries.append(entry)
            room = LG_TX_BUF - len(rec.entries)
        else:
            if pulse_on + pulse_off <= LG_MIN_TX_DELAY_US:
                raise error(BAD_PWM_MICROS)  # also every cancel with nothing playing
            rec = TxRec(chip, gpio, [entry], _first_edge_ns(now, entry.cycle_ns))
            _tx[(chip, gpio)] = rec
            _begin(rec)
            room = LG_TX_BUF - 1
    for hook in list(on_tx_pulse):
        hook(entry)
    return room


def tx_pwm(
    handle: int,
    gpio: int,
    pwm_frequency: float,
    pwm_duty_cycle: float,
    pulse_offset: int = 0,
    pulse_cycles: int = 0,
) -> int:
    # lgTxPwm: frequency 0 cancels; 0.1 Hz-10 kHz, duty 0-100 %, rounded to whole µs.
    with _lock:
        calls.append(("tx_pwm", handle, gpio, pwm_frequency, pwm_duty_cycle))
    if pwm_frequency == 0:
        return tx_pulse(handle, gpio, 0, 0, 0, 0)
    if pwm_frequency < 0.1 or pwm_frequency > 1e4:
        raise error(BAD_PWM_FREQ)
    if pwm_duty_cycle < 0 or pwm_duty_cycle > 100:
        raise error(BAD_PWM_DUTY)
    micros = int(1e6 / pwm_frequency + 0.5)
    on = int(pwm_duty_cycle / 100 * micros + 0.5)
    return tx_pulse(handle, gpio, on, micros - on, pulse_offset, pulse_cycles)


def tx_busy(handle: int, gpio: int, kind: int) -> int:
    with _lock:
        chip = _chip(handle)
        if kind not in (TX_PWM, TX_WAVE):
            raise error("bad tx type for GPIO and group")
        _update(clock.now_ns())
        rec = _tx.get((chip, gpio))
        busy = int(kind == TX_PWM and rec is not None and rec.active)
    _fire_callbacks()
    return busy


def tx_room(handle: int, gpio: int, kind: int) -> int:
    with _lock:
        chip = _chip(handle)
        if kind not in (TX_PWM, TX_WAVE):
            raise error("bad tx type for GPIO and group")
        _update(clock.now_ns())
        rec = _tx.get((chip, gpio))
        room = LG_TX_BUF - len(rec.entries) if rec is not None and rec.active else LG_TX_BUF
    _fire_callbacks()
    return room


# -- internals --------------------------------------------------------------------


def _maybe_fail(name: str) -> None:
    text = fail_next.pop(name, None)
    if text is not None:
        raise error(text)


def _chip(handle: int) -> int:
    if handle not in _handles:
        raise error(BAD_HANDLE)
    return _handles[handle]


def _line(chip: int, gpio: int) -> Line:
    if not 0 <= gpio < LINES:
        raise error(BAD_GPIO)
    return _lines.setdefault((chip, gpio), Line())


def _claimable(chip: int, gpio: int, handle: int) -> Line:
    line = _line(chip, gpio)
    if line.owner is not None and line.owner != handle:
        raise error(GPIO_BUSY)  # the kernel refuses a second request for a line (EBUSY)
    return line


def _free(chip: int, gpio: int) -> None:
    """xSetAsFree: the line request goes (the line floats as an input), its train stops."""
    line = _line(chip, gpio)
    rec = _tx.get((chip, gpio))
    if rec is not None and rec.active:
        _stop(rec, clock.now_ns())
    line.owner, line.mode, line.flags = None, 0, 0


def _drive(chip: int, gpio: int, line: Line, value: int) -> None:
    line.level = value
    events.append((clock.now_ns(), chip, gpio, value))


def _set_external(chip: int, gpio: int, value: int | None) -> None:
    line = _line(chip, gpio)
    before = line.read()
    line.external = value
    after = line.read()
    if before != after and line.mode & _LG_ALERT:
        edge = RISING_EDGE if after else FALLING_EDGE
        for cb in _callbacks:
            if (cb.chip, cb.gpio) == (chip, gpio) and cb.edge & edge:
                cb.tally += 1
                _pending_callbacks.append((cb, after, clock.now_ns()))


def _fire_callbacks() -> None:
    """Deliver alerts outside the lock, as lgpio's notification thread would."""
    with _lock:
        pending = list(_pending_callbacks)
        _pending_callbacks.clear()
    for cb, value, tick in pending:
        if cb.func is not None:
            cb.func(cb.chip, cb.gpio, value, tick)


def _first_edge_ns(now_ns: int, cycle_ns: int) -> int:
    """When a new train's first cycle starts (lgGpioCreateTxRec, lgPthTx).

    The record is seen at the transmit thread's next wake-up (it sleeps up to
    20 ms, less while other trains play), then starts at the next whole cycle.
    """
    wake = _thread_epoch_ns + -(-(now_ns - _thread_epoch_ns) // TX_THREAD_MAX_SLEEP_NS) * (
        TX_THREAD_MAX_SLEEP_NS
    )
    for rec in _tx.values():
        if rec.active and rec.entries and rec.entries[0].cycle_ns:
            phase = (now_ns - rec.entry_start_ns) % rec.entries[0].cycle_ns
            wake = min(wake, now_ns + rec.entries[0].cycle_ns - phase)
    wake_us = wake // 1000
    cycle_us = cycle_ns // 1000
    return (wake_us + cycle_us - wake_us % cycle_us) * 1000


def _begin(rec: TxRec) -> None:
    entry = rec.entries[0]
    rec.playing = Played(
        rec.chip, rec.gpio, entry.on_us, entry.off_us, entry.cycles, rec.entry_start_ns
    )
    played.append(rec.playing)


def _stop(rec: TxRec, at_ns: int) -> None:
    rec.active = False
    if rec.playing is not None and rec.playing.end_ns is None:
        rec.playing.end_ns = max(at_ns, rec.playing.start_ns)


def _tx_playing(chip: int, gpio: int) -> bool:
    rec = _tx.get((chip, gpio))
    return rec is not None and rec.active


def _update(now_ns: int) -> None:
    """Bring every train up to ``now_ns`` (lgPthTx's loop), then the carriage."""
    for rec in list(_tx.values()):
        while rec.active:
            entry = rec.entries[0]
            if entry.cycles == -1:
                if len(rec.entries) == 1:
                    break
                # An endless entry gives way at the end of the cycle during which the
                # next one was queued.
                cycles = max(
                    1, -(-(rec.entries[1].queued_ns - rec.entry_start_ns) // entry.cycle_ns)
                )
            else:
                cycles = entry.cycles
            end = rec.entry_start_ns + cycles * entry.cycle_ns
            if now_ns < end:
                break
            if rec.playing is not None:
                rec.playing.end_ns = end
            if len(rec.entries) > 1:
                rec.entries.pop(0)
                rec.entry_start_ns = end
                _begin(rec)
            else:
                rec.active = False  # "0 is a result of countdown": write 0, inactive
                line = _lines.get((rec.chip, rec.gpio))
                if line is not None and line.mode & _LG_OUTPUT:
                    line.level = 0
    _move_carriage(now_ns)


def _move_carriage(now_ns: int) -> None:
    c = carriage
    if c is None:
        return
    direction = 1 if _line(c.chip, c.dir).level == c.forward_level else -1
    mine = [p for p in played[c.first_open :] if (p.chip, p.gpio) == (c.chip, c.step)]
    done = sum(p.edges_until(now_ns) for p in mine)
    c.position += direction * (done - c.counted)
    c.counted = done
    # Entries that ended before now are counted for good: skip them next time.
    while c.first_open < len(played):
        p = played[c.first_open]
        if (p.chip, p.gpio) == (c.chip, c.step):
            if p.end_ns is None or p.end_ns > now_ns:
                break
            c.counted -= p.edges_until(now_ns)
        c.first_open += 1
    for gpio, pressed in c.switches.items():
        wanted = c.pressed_level if pressed(c.position) else 1 - c.pressed_level
        if _line(c.chip, gpio).external != wanted:
            _set_external(c.chip, gpio, wanted)
