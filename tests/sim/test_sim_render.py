"""The virtual optical bench: scenes, defocus, geometry, sensor and stacks."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from rig.sim.render import (
    SCENE_KINDS,
    Optics,
    Scene,
    disc_kernel,
    ground_truth,
    ground_truth_depth,
    make_scene,
    render_frame,
    render_stack,
)
from rig.sim.render.layers import Blur, ReducedImage, Slice

# A lens that blurs a lot on small test images, with no geometry or exposure randomness.
STILL = Optics(
    blur_px_per_mm=10.0,
    bokeh_rim=0.0,
    magnification_per_mm=0.0,
    jitter_px=0.0,
    jitter_deg=0.0,
    flicker=0.0,
    read_noise_dn=0.0,
    shot_noise_dn=0.0,
    gamma=1.0,
)


def flat_scene(colour: np.ndarray, depth_mm: float | np.ndarray, **extra: object) -> Scene:
    """A hand-made scene: ``colour`` (H×W×3 uint8) at one depth or a depth map."""
    depth = np.broadcast_to(np.float32(depth_mm), colour.shape[:2]).astype(np.float32)
    return Scene("test", colour, depth, (float(depth.min()), float(depth.max()) + 1e-3), **extra)  # type: ignore[arg-type]


def grey(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float64).mean(axis=2)


# --- scenes ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_scene_kinds_have_rgb_colour_and_depth_within_the_subject_range(kind: str) -> None:
    scene = make_scene(kind, (96, 72), seed=3, depth_range=(4.0, 5.0))

    assert scene.colour.shape == (72, 96, 3) and scene.colour.dtype == np.uint8
    assert scene.depth.shape == (72, 96) and scene.depth.dtype == np.float32
    subject = scene.depth != scene.background_mm
    assert scene.depth[subject].min() >= 4.0 and scene.depth[subject].max() <= 5.0
    # The subject spans most of its range, and has fine texture.
    assert np.ptp(scene.depth[subject]) > 0.6
    assert np.abs(cv2.Laplacian(grey(scene.colour), cv2.CV_64F))[subject].mean() > 5


@pytest.mark.parametrize("kind", ["stalk", "highlights", "bench"])
def test_never_sharp_backgrounds_are_far_and_smooth(kind: str) -> None:
    scene = make_scene(kind, (160, 120), seed=1)
    background = scene.depth == scene.background_mm

    assert scene.background_mm is not None and scene.background_mm >= 12.0 + 2 * 2.0
    assert background.mean() > 0.2
    # Smooth: neighbouring background pixels differ by well under one DN on average.
    interior = cv2.erode(background.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    laplacian = np.abs(cv2.Laplacian(grey(scene.colour), cv2.CV_64F))
    assert laplacian[interior].mean() < 1.0


def test_never_sharp_background_truth_matches_how_the_lens_sees_it() -> None:
    stack = render_stack("stalk", 3, size=(160, 120), seed=2, noise=False)
    background = stack.truth_depth(1) > 20.0
    background = cv2.erode(background.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0

    for frame in stack.frames:  # smooth enough that geometry differences do not matter
        error = np.abs(frame.image.astype(float) - stack.truth(1).astype(float))[background]
        assert error.mean() < 3.0


def test_bench_subject_lies_between_10_and_12_mm() -> None:
    scene = make_scene("bench", (200, 150))
    subject = scene.depth[scene.depth != scene.background_mm]

    assert scene.depth_range == (10.0, 12.0)
    assert subject.min() >= 10.0 and subject.max() <= 12.0
    assert subject.min() < 10.2 and subject.max() > 11.8
    assert scene.background_mm is not None and scene.background_mm >= 30.0
    assert scene.specular is not None and scene.specular.any()


def test_layers_have_hard_occlusion_edges() -> None:
    scene = make_scene("layers", (128, 96), seed=2)
    jumps = np.abs(np.diff(scene.depth, axis=1))

    assert (jumps > 0.3).sum() > 20  # depth steps of 15 % of the range between neighbours
    assert len(np.unique(scene.depth)) <= 8  # flat objects at a few depths


def test_highlights_are_saturated_dots() -> None:
    scene = make_scene("highlights", (160, 120), seed=0)

    assert scene.specular is not None
    assert (scene.colour[scene.specular > 0] == 255).all()
    assert 5 < (scene.specular > 0).sum() < 0.03 * scene.specular.size
    # Far brighter than full scale: they stay bright when spread into bokeh discs.
    assert scene.specular_gain * scene.specular.max() / 255 > 10


def test_scenes_are_deterministic_per_seed() -> None:
    first, again = make_scene("bench", (96, 72), seed=5), make_scene("bench", (96, 72), seed=5)
    other = make_scene("bench", (96, 72), seed=6)

    assert np.array_equal(first.colour, again.colour)
    assert np.array_equal(first.depth, again.depth)
    assert not np.array_equal(first.colour, other.colour)


def test_bad_scene_requests_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown scene kind"):
        make_scene("teapot")
    with pytest.raises(ValueError, match="near < far"):
        make_scene("dome", depth_range=(12.0, 10.0))


# --- defocus --------------------------------------------------------------------------


def test_disc_kernel_is_normalised_flat_and_hard_edged() -> None:
    assert disc_kernel(0.3).shape == (1, 1)  # fits in one pixel: a point
    kernel = disc_kernel(8.0)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(kernel, kernel[::-1, ::-1])
    centre = kernel.shape[0] // 2
    assert kernel[centre, centre] == pytest.approx(kernel[centre, centre + 5])  # flat inside
    assert kernel[centre, centre + 9] == 0.0  # nothing outside the disc
    rimmed = disc_kernel(8.0, rim=0.5)
    assert rimmed[centre, centre + 7] > 1.2 * rimmed[centre, centre]


def test_edge_blur_width_grows_in_proportion_to_defocus() -> None:
    colour = np.full((40, 120, 3), 40, np.uint8)
    colour[:, 60:] = 200
    scene = flat_scene(colour, 10.0)

    widths = []
    for defocus_mm in (0.5, 1.0, 1.5):
        profile = grey(render_frame(scene, 10.0 + defocus_mm, STILL, seed=0).image)[20]
        rising = (profile > 40 + 0.02 * 160) & (profile < 200 - 0.02 * 160)
        widths.append(rising.sum())
        # A disc of radius R spreads an edge over 2R; the 2–98 % part of it is a bit less.
        radius = STILL.blur_radius_px(10.0, 10.0 + defocus_mm)
        edge = np.cumsum(disc_kernel(radius).sum(axis=0))
        assert rising.sum() == pytest.approx(((edge > 0.02) & (edge < 0.98)).sum(), abs=2.5)
        assert 1.7 * radius < rising.sum() < 2 * radius
    assert widths[0] < widths[1] < widths[2]


def test_blur_changes_smoothly_with_depth_not_in_slice_sized_steps() -> None:
    colour = np.full((90, 80, 3), 40, np.uint8)
    colour[:, 40:] = 200
    depth = np.linspace(10.1, 10.3, 90, dtype=np.float32)[:, None].repeat(80, axis=1)
    scene = flat_scene(colour, depth)  # blur radius 1.4 px (top) to 3.4 px (bottom)

    image = grey(render_frame(scene, 10.0, STILL, seed=0).image)
    steepness = (np.diff(image, axis=1) ** 2).sum(axis=1)[10:-10]  # per row: edge sharpness
    assert np.corrcoef(np.arange(steepness.size), steepness)[0, 1] < -0.97
    # No plateaus: rows in one depth slice do not share one blur (8-bit rounding aside).
    changes = np.flatnonzero(np.diff(steepness) != 0)
    assert np.diff(changes).max() <= 4


def test_each_depth_is_sharpest_in_the_frame_focused_nearest_to_it() -> None:
    optics = dataclasses.replace(STILL, blur_px_per_mm=6.0, gamma=2.0)
    stack = render_stack("planes", 9, size=(192, 144), optics=optics, seed=4, noise=False)
    scene = stack.scene

    energies = []
    for frame in stack.frames:  # sharpness, back in scene coordinates
        back = cv2.warpAffine(
            frame.image, frame.transform, scene.size, flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR
        )
        laplacian = cv2.Laplacian(grey(back), cv2.CV_64F)
        energies.append(cv2.blur(laplacian**2, (9, 9)))
    sharpest = np.argmax(np.stack(energies), axis=0)
    nearest = np.argmin(np.abs(scene.depth[None] - stack.focus_mm[:, None, None]), axis=0)

    inner = (slice(12, -12), slice(12, -12))
    agreement = np.abs(sharpest[inner] - nearest[inner])
    assert (agreement == 0).mean() > 0.9
    assert (agreement <= 1).mean() > 0.995


def test_defocused_highlight_makes_a_flat_disc_with_a_bright_rim_not_a_gaussian() -> None:
    colour = np.full((61, 61, 3), 10, np.uint8)
    colour[30, 30] = 255
    specular = np.zeros((61, 61), np.uint8)
    specular[30, 30] = 255
    scene = flat_scene(colour, 10.0, specular=specular, specular_gain=300.0)
    optics = dataclasses.replace(STILL, bokeh_rim=0.6)

    image = grey(render_frame(scene, 11.6, optics, seed=0).image)  # radius 16.4 px
    radius = optics.blur_radius_px(10.0, 11.6)
    ys, xs = np.mgrid[0:61, 0:61]
    distance = np.hypot(xs - 30, ys - 30)

    def ring(low: float, high: float) -> float:
        return float(image[(distance >= low * radius) & (distance < high * radius)].mean())

    centre, middle, rim, outside = ring(0, 0.2), ring(0.4, 0.6), ring(0.8, 0.95), ring(1.15, 1.5)
    assert middle == pytest.approx(centre, rel=0.1)  # flat interior (a Gaussian halves here)
    assert rim > 1.1 * middle  # brighter rim
    assert outside < 10 + 0.1 * (centre - 10)  # hard edge: nothing much beyond the disc
    assert image.max() < 255  # not clipped: the shape is real


def test_defocused_foreground_spreads_over_the_sharp_background_behind_it() -> None:
    colour = np.full((40, 100, 3), 30, np.uint8)
    colour[:, :50] = 220  # near object on the left, far background on the right
    depth = np.full((40, 100), 12.0, np.float32)
    depth[:, :50] = 10.0
    scene = flat_scene(colour, depth)

    background_sharp = grey(render_frame(scene, 12.0, STILL, seed=0).image)[20]
    radius = STILL.blur_radius_px(10.0, 12.0)  # 20.4 px
    just_outside = background_sharp[50 + int(radius / 2)]
    assert just_outside > 30 + 0.15 * 190  # the blurred near edge covers the background
    just_inside = background_sharp[50 - int(radius / 2)]
    assert just_inside < 220 - 0.15 * 190  # ... and shows it through: no hard silhouette
    assert np.abs(np.diff(background_sharp)).max() < 12  # a soft ramp all the way
    assert background_sharp[50 + int(radius) + 3] == pytest.approx(30, abs=2)

    foreground_sharp = grey(render_frame(scene, 10.0, STILL, seed=0).image)[20]
    assert foreground_sharp[47] == pytest.approx(220, abs=2)  # a sharp edge stays sharp ...
    assert foreground_sharp[52] < 30 + 0.15 * 190  # ... and does not bleed into the background


@pytest.mark.parametrize("reduction", [2, 4, 8])
@pytest.mark.parametrize("x", [100, 101, 102, 103])
def test_reduced_blur_keeps_a_point_centred_wherever_it_lies_in_its_block(
    x: int, reduction: int
) -> None:
    image = np.zeros((200, 200, 4), np.float32)
    image[101, x] = 1.0
    kernel = disc_kernel(2.2, 0.5)  # radius 2.2 reduced pixels, bright rim

    reduced = ReducedImage.blurred_from(image, (0, 0, 200, 200), reduction, kernel)
    light = reduced.expanded((0, 0, 200, 200))[..., 0].astype(np.float64)

    ys, xs = np.mgrid[0:200, 0:200]
    assert light.sum() == pytest.approx(1.0, abs=1e-4)
    assert (xs * light).sum() / light.sum() == pytest.approx(x, abs=0.02)
    assert (ys * light).sum() / light.sum() == pytest.approx(101, abs=0.02)


def test_reduced_blur_does_not_depend_on_how_the_slice_is_cut_into_boxes() -> None:
    rng = np.random.default_rng(0)
    radiance = np.dstack([rng.random((70, 90, 3)), np.ones((70, 90))]).astype(np.float32)
    level_map = np.zeros((70, 90), np.uint16)
    level_map[10:50, 5:80] = 5
    slice_ = Slice(radiance, level_map, (5, 5))
    blur = Blur((5, 5), (3.3, 3.3), (disc_kernel(3.3),))
    tiles = [
        (x, y, min(x + 16, 90), min(y + 16, 70)) for x in range(0, 90, 16) for y in range(0, 70, 16)
    ]

    for reduction in (2, 4, 8):
        whole = slice_.reduced_blur([(0, 0, 90, 70)], (0, 0, 90, 70), reduction, blur)
        pieces = slice_.reduced_blur(tiles, (0, 0, 90, 70), reduction, blur)
        assert np.allclose(
            whole.expanded((0, 0, 90, 70)), pieces.expanded((0, 0, 90, 70)), atol=1e-6
        )
        assert np.allclose(
            whole.expanded((7, 3, 41, 66)), whole.expanded((0, 0, 90, 70))[3:66, 7:41]
        )


@pytest.mark.parametrize("reduction", [2, 8, 64])
def test_reduced_blur_keeps_a_flat_image_flat_up_to_its_edge(reduction: int) -> None:
    flat = np.ones((61, 77, 4), np.float32)  # opaque: alpha must stay 1 for compositing

    reduced = ReducedImage.blurred_from(flat, (0, 0, 77, 61), reduction, disc_kernel(3.7))
    assert np.allclose(reduced.expanded((0, 0, 77, 61)), 1.0, atol=1e-5)


def test_defocused_dots_stay_centred_on_their_dots() -> None:
    colour = np.zeros((280, 460, 3), np.uint8)
    # Far apart (their blurs never meet), at assorted positions within blocks of 8 pixels.
    dots = [(45 + 91 * i, 45 + 93 * j + i % 3) for i in range(5) for j in range(3)]
    for x, y in dots:
        colour[y - 2 : y + 3, x - 2 : x + 3] = 255
    scene = flat_scene(colour, 10.0)

    for radius in (6.0, 9.0, 12.0, 17.0, 24.0):  # blurred at 1/2, 1/4 and 1/8 resolution
        focus = 10.0 + (radius - STILL.min_blur_px) / STILL.blur_px_per_mm
        light = grey(render_frame(scene, focus, STILL, seed=0).image)
        for x, y in dots:
            window = light[y - 44 : y + 45, x - 44 : x + 45]
            offsets = np.arange(-44, 45)
            centre_x = (window.sum(axis=0) * offsets).sum() / window.sum()
            centre_y = (window.sum(axis=1) * offsets).sum() / window.sum()
            assert abs(centre_x) < 0.05 and abs(centre_y) < 0.05, (radius, x, y)


# --- geometry -------------------------------------------------------------------------


def test_magnification_changes_with_focus_as_specified() -> None:
    colour = np.full((120, 160, 3), 20, np.uint8)
    for x in range(20, 150, 30):
        for y in range(20, 110, 30):
            cv2.circle(colour, (x, y), 2, (230, 230, 230), -1)
    scene = flat_scene(colour, 11.0)
    optics = dataclasses.replace(
        Optics().ideal(), magnification_per_mm=0.02, reference_focus_mm=11.0, jitter_px=0.3
    )

    near, far = render_frame(scene, 9.0, optics, seed=1), render_frame(scene, 13.0, optics, seed=2)
    for frame, focus in ((near, 9.0), (far, 13.0)):
        scale = np.sqrt(abs(np.linalg.det(frame.transform[:, :2])))
        assert scale == pytest.approx(1 + 0.02 * (focus - 11.0), abs=1e-3)
    measured = _dot_spread(far.image) / _dot_spread(near.image)
    assert measured == pytest.approx(1.04 / 0.96, abs=0.004)


def _dot_spread(image: np.ndarray) -> float:
    count, _, _, centroids = cv2.connectedComponentsWithStats((grey(image) > 120).astype(np.uint8))
    assert count - 1 == 15
    dots = centroids[1:]
    return float(np.sqrt(((dots - dots.mean(axis=0)) ** 2).sum(axis=1).mean()))


def test_ground_truth_equals_an_ideal_render_in_the_same_geometry() -> None:
    scene = make_scene("bench", (120, 90), seed=3)
    optics = dataclasses.replace(Optics().ideal(), jitter_px=0.4, magnification_per_mm=0.02)

    frame = render_frame(scene, 10.3, optics, seed=9, out_size=(100, 76))
    truth = ground_truth(scene, frame.transform, (100, 76))

    difference = np.abs(frame.image.astype(int) - truth.astype(int))
    assert difference.max() <= 1
    assert not np.allclose(frame.transform[:, 2], [(100 - 120) / 2, (76 - 90) / 2])  # jittered


def test_ground_truth_depth_follows_the_frame_geometry() -> None:
    scene = make_scene("layers", (120, 90), seed=3)
    transform = np.array([[1.0, 0.0, -7.0], [0.0, 1.0, -5.0]])  # a pure shift

    depth = ground_truth_depth(scene, transform, (100, 76))
    assert np.array_equal(depth, scene.depth[5:81, 7:107])


# --- sensor ---------------------------------------------------------------------------


@pytest.mark.parametrize("level", [60, 128, 200])
def test_sensor_noise_matches_the_configured_sigma(level: int) -> None:
    scene = flat_scene(np.full((80, 80, 3), level, np.uint8), 11.0)
    optics = dataclasses.replace(STILL, read_noise_dn=1.0, shot_noise_dn=1.75)

    image = render_frame(scene, 11.0, optics, seed=level).image.astype(np.float64)
    expected = float(optics.noise_sigma_dn(level))
    assert image.mean() == pytest.approx(level, abs=0.1)
    assert image.std() == pytest.approx(expected, rel=0.08)
    assert float(optics.noise_sigma_dn(128)) == pytest.approx(2.0, abs=0.02)


def test_no_light_gives_a_dark_noisy_frame() -> None:
    scene = make_scene("bench", (96, 72))
    frame = render_frame(scene, 11.0, Optics(), seed=0, light=0.0)

    assert frame.gain == 0.0
    assert frame.image.mean() < 1.5
    assert frame.image.std() > 0.3  # read noise remains


def test_flicker_and_light_scale_the_exposure() -> None:
    scene = flat_scene(np.full((32, 32, 3), 100, np.uint8), 11.0)
    optics = dataclasses.replace(STILL, flicker=0.01, gamma=2.0)

    gains = [render_frame(scene, 11.0, optics, seed=seed).gain for seed in range(30)]
    assert 0.002 < np.std(gains) < 0.02 and np.mean(gains) == pytest.approx(1.0, abs=0.01)
    half = render_frame(scene, 11.0, optics, seed=0, light=0.5)
    # Gain applies to linear light: the 8-bit value scales by sqrt(gain) for gamma 2.
    assert half.image.mean() == pytest.approx(100 * np.sqrt(half.gain), abs=0.6)


def test_rendering_is_deterministic_per_seed() -> None:
    scene = make_scene("highlights", (96, 72), seed=1)
    first = render_frame(scene, 10.7, Optics(), seed=11)
    again = render_frame(scene, 10.7, Optics(), seed=11)
    other = render_frame(scene, 10.7, Optics(), seed=12)

    assert np.array_equal(first.image, again.image)
    assert np.array_equal(first.transform, again.transform) and first.gain == again.gain
    assert not np.array_equal(first.image, other.image)


# --- stacks ---------------------------------------------------------------------------


def test_render_stack_spans_the_subject_and_reports_every_frame() -> None:
    stack = render_stack("bench", 7, size=(128, 96), seed=2)

    assert [frame.image.shape for frame in stack.frames] == [(96, 128, 3)] * 7
    assert stack.focus_mm[0] < 10.0 and stack.focus_mm[-1] > 12.0
    assert stack.focus_mm[0] > 9.8 and stack.focus_mm[-1] < 12.2
    assert np.allclose(np.diff(stack.focus_mm), np.diff(stack.focus_mm)[0])
    assert stack.transforms.shape == (7, 2, 3) and stack.gains.shape == (7,)
    assert stack.reference_index == 3
    assert stack.truth().shape == (96, 128, 3) and stack.truth().dtype == np.uint8
    depth = stack.truth_depth(0)
    assert depth.shape == (96, 128) and set(np.unique(depth)) <= set(np.unique(stack.scene.depth))
    # The scene is rendered larger than the frames so the warp never leaves it.
    assert stack.scene.size[0] > 128 and stack.scene.size[1] > 96


def test_render_stack_is_deterministic_per_seed() -> None:
    first = render_stack("stalk", 3, size=(80, 60), seed=7)
    again = render_stack("stalk", 3, size=(80, 60), seed=7)

    for a, b in zip(first.frames, again.frames, strict=True):
        assert np.array_equal(a.image, b.image)
    assert np.array_equal(first.truth(), again.truth())


def test_render_stack_accepts_a_scene_and_a_focus_range() -> None:
    scene = make_scene("dome", (140, 110), depth_range=(0.0, 1.0))
    stack = render_stack(scene, 4, focus_range=(0.2, 0.8), noise=False)

    assert np.allclose(stack.focus_mm, [0.2, 0.4, 0.6, 0.8])
    width, height = stack.size
    assert 100 < width < 140 and 80 < height < 110
    with pytest.raises(ValueError, match="at least 2"):
        render_stack(scene, 1)
