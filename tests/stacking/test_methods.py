"""The fusion-method registry: one place that names the methods, for the stacker, the
rig's plans and the HTTP API alike."""

from __future__ import annotations

import numpy as np
import pytest
from stacking_support import rendered

from rig.plan import StackPlan
from stacker import METHODS, StackError, StackOptions, Stream
from stacker.methods import METHOD_NAMES
from stacker.methods import METHODS as REGISTRY
from stacker.methods.base import FusionMethod
from stacker.pyramid import Weights
from web.models import RestackRequest


def test_plans_and_the_api_accept_exactly_the_registered_methods():
    assert METHODS == METHOD_NAMES == tuple(REGISTRY)
    assert StackPlan.model_json_schema()["properties"]["method"]["enum"] == list(METHOD_NAMES)
    schema = RestackRequest.model_json_schema()["properties"]["method"]["anyOf"][0]
    assert schema["enum"] == list(METHOD_NAMES)
    assert StackPlan(start_mm=1, end_mm=2, step_um=100).method == METHOD_NAMES[0]


def test_an_unknown_method_is_refused_with_the_known_ones_named():
    with pytest.raises(StackError, match="use pyramid or depthmap"):
        Stream(options=StackOptions(method="nonsense"))


class _FirstFrameWins(FusionMethod):
    """The smallest possible method: the first frame fused wins everywhere."""

    name = "first"
    summary = "the first frame"

    def tile_weights(self, tile, bands, valid):  # type: ignore[no-untyped-def]
        mask = np.full(bands.luma[0].shape, 1.0 if self.frames == 0 else 0.0, np.float32)
        return Weights.from_mask(mask, binary=True)


def test_a_method_is_one_class_and_one_registry_line(monkeypatch):
    monkeypatch.setitem(REGISTRY, _FirstFrameWins.name, _FirstFrameWins)
    stack = rendered("bench")
    stream = Stream(count=len(stack.images), options=StackOptions(method="first", align=False))
    for image in stack.images:
        stream.add(image)
    out = stream.finish().to_uint8()
    # Unaligned frames are fused in order, so frame 0 is what comes out.
    assert np.abs(out.astype(int) - stack.images[0].astype(int)).max() <= 1
