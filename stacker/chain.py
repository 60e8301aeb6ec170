"""The registration chain: every frame registered to a recent keyframe, and its place
(warp and gain relative to the reference frame) once the chain reaches the reference.

Registering each frame to its neighbour drifts: differently focused frames register with
a small systematic bias (defocus looks like a slight change of magnification, a blurring
occlusion edge like a shift), and the bias adds up link by link — a 200-frame stack at
12 MP ended 13 px out at its ends.  So in a long stack a frame is registered to the
current *keyframe*, a few frames back: a keyframe serves at most count/32 frames, so no
frame is more than ~16 links from the reference, and only while the frames stay alike
(1 − correlation no more than three times what the keyframe's first follower showed);
then the frame just registered becomes the keyframe.  A longer link is a less exact
one (thin subjects over flat, noisy backgrounds suffer first), so stacks of fewer than
64 frames stay neighbour to neighbour.  One registration per frame either way.

Links form a tree rooted at the first frame.  Frames are placed from the reference
outwards: forwards through a link when its template is placed, backwards (through the
inverse) when the frame is placed and its template is not.

The root has nothing before it to be checked against: a black, noisy or half-decoded
first frame would take every later frame down with it.  So the root stays *unconfirmed*
until a frame registers to it.  A frame that does not is held as the *challenger*, and
the next frame decides between them: if it registers to the root, the challenger was the
bad one; if only to the challenger, the root was, and the challenger becomes the root.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from stacker import geometry
from stacker.align import Proxy, Registration, RegistrationError, register
from stacker.geometry import Matrix

# Reference pixel → frame pixel, and the gain that brings the frame to the reference's
# brightness.
Placement = tuple[Matrix, float]

# A new keyframe when 1 − correlation to the keyframe exceeds this multiple of what it
# was for the keyframe's first follower, or when it has served count / _LINKS frames.
_KEY_CHANGE = 3.0
_LINKS = 32

_ROOT_DROPPED = "does not register with the frames after it"


@dataclass(frozen=True)
class Link:
    """Registration of a frame to an earlier one (its template)."""

    template: int
    warp: Matrix  # template pixel → this frame's pixel
    gain: float  # this frame × gain ≈ template's brightness
    correlation: float


@dataclass
class _Keyframe:
    index: int
    proxy: Proxy
    first_change: float | None = None  # 1 − correlation of its first follower
    followers: int = 0
    last_warp: Matrix | None = None  # to its latest follower: the next one's first guess


@dataclass(frozen=True)
class Step:
    """What adding a frame did: its ``link`` (None for the root and a held frame),
    whether it is ``held`` (not known yet to be usable), and the earlier frames it showed
    to be unusable, with the reason."""

    link: Link | None = None
    held: bool = False
    dropped: tuple[tuple[int, str], ...] = ()


@dataclass
class _Challenger:
    index: int
    proxy: Proxy
    reason: str  # why it did not register to the root

    def dropped(self) -> tuple[tuple[int, str], ...]:
        return ((self.index, self.reason),)


class RegistrationChain:
    def __init__(self, count: int | None = None) -> None:
        """``count``: the frames planned (None: unknown, every frame links to the last)."""
        self.max_span = max(1, (count or 0) // _LINKS)
        self.links: dict[int, Link] = {}
        self.placed: dict[int, Placement] = {}
        self._key: _Keyframe | None = None
        self._unconfirmed_root: int | None = None
        self._challenger: _Challenger | None = None

    def give_up_pending(self) -> tuple[tuple[int, str], ...]:
        """No frame will come to decide (the stack ends): the challenger is dropped, the
        root kept as the frame that came first."""
        challenger, self._challenger = self._challenger, None
        self._unconfirmed_root = None
        return () if challenger is None else challenger.dropped()

    def add(self, index: int, proxy: Proxy) -> Step:
        """Register frame ``index`` to the keyframe.  Raises :class:`RegistrationError`
        when it does not register (once the root is confirmed), and the frame stays out of
        the chain."""
        key = self._key
        if key is None:
            self._key = _Keyframe(index, proxy)
            self._unconfirmed_root = index
            return Step(held=True)
        if self._unconfirmed_root is None:
            return Step(self._link(key, index, proxy, self._register_to_key(key, proxy)))
        return self._add_while_unconfirmed(key, index, proxy)

    def _add_while_unconfirmed(self, key: _Keyframe, index: int, proxy: Proxy) -> Step:
        challenger = self._challenger
        # However it goes, the challenger is done: dropped, or the root in its place.
        dropped = () if challenger is None else challenger.dropped()
        try:
            reg = self._register_to_key(key, proxy)
        except RegistrationError as exc:
            if challenger is not None:
                try:
                    reg = register(challenger.proxy, proxy)
                except RegistrationError:
                    pass
                else:  # the root was the odd one out: the challenger takes its place
                    root = key.index
                    self._key = _Keyframe(challenger.index, challenger.proxy)
                    self._unconfirmed_root = self._challenger = None
                    link = self._link(self._key, index, proxy, reg)
                    return Step(link, dropped=((root, _ROOT_DROPPED),))
            self._challenger = _Challenger(index, proxy, str(exc))
            return Step(held=True, dropped=dropped)
        self._unconfirmed_root = self._challenger = None
        return Step(self._link(key, index, proxy, reg), dropped=dropped)

    def _link(self, key: _Keyframe, index: int, proxy: Proxy, reg: Registration) -> Link:
        """Record ``index``'s link to ``key``; the frame may become the next keyframe."""
        link = Link(key.index, reg.warp, reg.gain, reg.correlation)
        self.links[index] = link
        change = 1.0 - reg.correlation
        if key.first_change is None:
            key.first_change = max(change, 1e-6)
        key.followers += 1
        if key.followers >= self.max_span or change > _KEY_CHANGE * key.first_change:
            self._key = _Keyframe(index, proxy)
        else:
            key.last_warp = reg.warp
            key.proxy.forget_gradients()
        return link

    @staticmethod
    def _register_to_key(key: _Keyframe, proxy: Proxy) -> Registration:
        try:
            return register(key.proxy, proxy, init=key.last_warp)
        except RegistrationError:
            if key.last_warp is None:
                raise
            return register(key.proxy, proxy)  # the previous warp was no good guess

    def place_identity(self, index: int) -> None:
        """The reference frame, or any frame when frames are not aligned."""
        self.placed[index] = (geometry.identity(), 1.0)

    def place_forward(self, index: int) -> bool:
        """Place ``index`` from its template's place; False when that is not known."""
        link = self.links.get(index)
        if link is None or link.template not in self.placed:
            return False
        warp_t, gain_t = self.placed[link.template]
        self.placed[index] = (link.warp @ warp_t, gain_t * link.gain)
        return True

    def place_reachable(self, indices: Iterable[int]) -> list[int]:
        """Place every frame of ``indices`` the links connect to a placed frame, in either
        direction; returns those newly placed."""
        waiting = {i for i in indices if i not in self.placed}
        newly: list[int] = []
        progress = True
        while progress and waiting:
            progress = False
            for index in sorted(waiting):
                if self.place_forward(index) or self._place_backward(index):
                    waiting.discard(index)
                    newly.append(index)
                    progress = True
        return newly

    def _place_backward(self, index: int) -> bool:
        """Place ``index`` from a placed frame whose template it is."""
        for follower, link in self.links.items():
            if link.template == index and follower in self.placed:
                warp_f, gain_f = self.placed[follower]
                self.placed[index] = (np.linalg.inv(link.warp) @ warp_f, gain_f / link.gain)
                return True
        return False
