"""The registration chain: neighbour to neighbour in short stacks, keyframes in long ones
so no frame is many links (each with its small bias) away from the reference."""

from __future__ import annotations

import numpy as np
import pytest
from stacking_support import rendered

from rig.sim.render import render_stack
from stacker.align import Proxy
from stacker.chain import RegistrationChain


def links_to(chain: RegistrationChain, index: int, reference: int) -> int:
    """Links on the path between ``index`` and ``reference`` in the chain's tree."""

    def ancestors(i: int) -> list[int]:
        path = [i]
        while i in chain.links:
            i = chain.links[i].template
            path.append(i)
        return path

    a, b = ancestors(index), ancestors(reference)
    common = next(i for i in a if i in b)
    return a.index(common) + b.index(common)


def corner_errors(chain: RegistrationChain, stack, reference: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    w, h = stack.size
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], float).T
    to3 = [np.vstack([f.transform, [0, 0, 1]]) for f in stack.frames]
    errors = []
    for i in range(len(stack.frames)):
        true = to3[i] @ np.linalg.inv(to3[reference])
        est = chain.placed[i][0]
        errors.append(np.hypot(*((est @ corners) - (true @ corners))[:2]).max())
    return np.array(errors)


def test_a_short_stack_links_every_frame_to_the_one_before():
    stack = rendered("bench")
    chain = RegistrationChain(count=len(stack.images))
    for i, image in enumerate(stack.images):
        chain.add(i, Proxy.from_frame(image))
    assert {i: link.template for i, link in chain.links.items()} == {
        i: i - 1 for i in range(1, len(stack.images))
    }


@pytest.mark.slow
def test_a_long_stack_is_few_links_from_its_reference_and_registers_as_well():
    count = 160
    stack = render_stack("bench", count, size=(480, 360), seed=5)
    proxies = [Proxy.from_frame(image) for image in stack.images]
    reference = count // 2
    chains = {}
    for planned in (None, count):  # unknown count: neighbour to neighbour
        chain = RegistrationChain(planned)
        for i, proxy in enumerate(proxies):
            chain.add(i, proxy)
        chain.place_identity(reference)
        assert len(chain.place_reachable(range(count))) == count - 1
        chains[planned] = chain
    hops = [links_to(chains[count], i, reference) for i in range(count)]
    assert max(hops) <= 24 < count // 2
    keyed, plain = (corner_errors(chains[p], stack, reference) for p in (count, None))
    assert np.median(keyed) <= max(0.3, np.median(plain) + 0.05)
    assert keyed.max() <= 1.5
