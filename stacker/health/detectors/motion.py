"""Motion: the whole picture shifted, or a part of it moved and stayed moved."""

from __future__ import annotations

import numpy as np

from stacker.health.findings import OUTLIER_Z, Finding
from stacker.health.series import robust_sigma
from stacker.health.stack_view import StackView

MIN_MOVE = 0.0025  # of the frame width
MIN_PART_CHANGE = 0.07  # log₂ of a cell's level: 5 %


def find_shift(view: StackView) -> list[Finding]:
    out: list[Finding] = []
    idx = [i for i in view.present if np.isfinite(view.s.shift[i]).all()]
    if len(idx) < 4:
        return out
    steps = np.diff(view.s.shift[idx], axis=0)
    resid = steps - np.median(steps, axis=0)
    sigma = max(robust_sigma(resid[:, 0]), robust_sigma(resid[:, 1]), 0.05)
    width = view.s.size[0]
    for p, (dx, dy) in enumerate(resid):
        size = float(np.hypot(dx, dy))
        if size > OUTLIER_Z * sigma and size >= MIN_MOVE * width:
            frame = idx[p + 1]
            view.explained.add(frame)
            out.append(
                Finding(
                    "motion",
                    "bad" if size >= 8 * MIN_MOVE * width else "warning",
                    (idx[p], frame),
                    f"the subject or the camera moved by {size:.0f} px ({size / width:.1%} "
                    f"of the frame) between frames {idx[p]} and {frame}",
                    "aligned, but look for ghosting at edges; secure the subject and the "
                    "camera, and keep the table still",
                    round(size, 1),
                    "px",
                )
            )
    return out


def find_moved_part(view: StackView) -> list[Finding]:
    """A part of the picture whose level jumps between two frames and stays — at
    that step only, far beyond the cell's own change from frame to frame (defocus
    changes a cell's mean slowly, the light changes every cell alike): something in
    it moved, and the result may show it twice (ghosting)."""
    out: list[Finding] = []
    idx = view.present
    if len(idx) < 5:
        return out
    lv = view.s.levels[idx]
    d = np.diff(lv, axis=0)
    d -= np.median(d, axis=1, keepdims=True)  # the light's own change
    centre = np.median(d, axis=0)
    spread = np.maximum(1.4826 * np.median(np.abs(d - centre), axis=0), 0.005)
    z = np.abs(d - centre) / spread
    size = np.abs(d - centre)
    # A jump, not a run: the steps before and after it are much smaller (defocus
    # moves a cell's level a little at every step while the focus passes by).
    before = np.vstack([size[:1] * 0, size[:-1]])
    after = np.vstack([size[1:], size[:1] * 0])
    alone = size > 3 * np.maximum(before, after)
    jumped = (z > OUTLIER_Z) & (size >= MIN_PART_CHANGE) & alone
    jumped[0] = jumped[-1] = False  # a jump needs a step on each side to compare
    cells = jumped.shape[1]
    for p in range(jumped.shape[0]):
        a, b = idx[p], idx[p + 1]
        count = int(jumped[p].sum())
        if count < 2 or count > cells / 2 or a in view.explained or b in view.explained:
            continue
        view.explained |= {b}
        where = np.flatnonzero(jumped[p])
        out.append(
            Finding(
                "motion",
                "warning",
                (a, b),
                f"part of the picture changed between frames {a} and {b} and stayed "
                "changed: something in it moved",
                "look for ghosting (a double edge) there; keep the subject still (a "
                "live subject, a draught, a loose part) during the stack",
                round(count / cells, 3),
                "of the picture",
                view.box_of(where),
            )
        )
    return out
