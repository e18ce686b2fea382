"""Differentiable Siamese augmentation: the Siamese rule, seeding, gradients, and every transform
checked on hand-made images against what it must do (the authors' ranges and semantics)."""

from __future__ import annotations

import math

import pytest
import torch

from dcbench import DSA_STRATEGY, DSAParams, dsa_augment, siamese_augment
from dcbench.augment import AUGMENTATIONS, augmentation, check_strategy, mnist_augment
from dcbench.augment.dsa import GROUPS, draw

SEEDS = range(40)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def image(size: int = 28, channels: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, channels, size, size, generator=gen(seed)) + 0.5  # no zeros: fills show


def shared(strategy: str, seed: int, size: int = 28):
    """The draw siamese_augment makes from this seed, to check its output against."""
    return draw(strategy, 1, (size, size), gen(seed))


def test_parameters_are_the_authors():
    assert DSAParams() == DSAParams(prob_flip=0.5, ratio_scale=1.2, ratio_rotate=15.0, ratio_crop_pad=0.125,
                                    ratio_cutout=0.5, brightness=1.0, saturation=2.0, contrast=0.5)
    assert DSA_STRATEGY == "color_crop_cutout_flip_scale_rotate"
    assert check_strategy(DSA_STRATEGY) == DSA_STRATEGY


@pytest.mark.parametrize("strategy", ["colour", "crop_jitter", "", "crop__flip", "none"])
def test_an_unknown_strategy_raises_naming_the_groups(strategy):
    for call in (check_strategy, lambda s: dsa_augment(image(), s, gen(0)),
                 lambda s: siamese_augment([image()], s, gen(0)), lambda s: augmentation(f"dsa:{s}")):
        with pytest.raises(ValueError, match="color, crop, cutout, flip, scale, rotate"):
            call(strategy)


@pytest.mark.parametrize("strategy", [*GROUPS, DSA_STRATEGY])
def test_a_siamese_call_gives_every_image_of_every_batch_one_transform(strategy):
    x = image(channels=3)
    for seed in range(8):
        real, syn = siamese_augment([x.expand(7, -1, -1, -1), x.expand(3, -1, -1, -1)], strategy, gen(seed))
        assert real.shape == (7, 3, 28, 28) and syn.shape == (3, 3, 28, 28)
        outputs = torch.cat([real, syn])
        torch.testing.assert_close(outputs, outputs[:1].expand_as(outputs), rtol=0, atol=1e-6)


def test_a_siamese_call_shares_the_group_choice_too():
    """Over seeds the full strategy picks several groups, and the two batches always agree."""
    x, y = image(seed=1), image(seed=2)
    groups = set()
    for seed in SEEDS:
        real, syn = siamese_augment([torch.cat([x, y]), x], DSA_STRATEGY, gen(seed))
        torch.testing.assert_close(real[:1], syn, rtol=0, atol=1e-6)
        assert torch.equal(real[1:], shared(DSA_STRATEGY, seed).apply(y))
        groups.add(shared(DSA_STRATEGY, seed).group)
    assert groups == set(GROUPS)


def test_siamese_batches_must_share_an_image_size():
    with pytest.raises(ValueError, match="one image size"):
        siamese_augment([image(28), image(32)], "crop", gen(0))


def test_same_seed_same_output_other_seed_other_output():
    x = torch.rand(16, 3, 32, 32, generator=gen(5))
    for augment in (lambda g: dsa_augment(x, DSA_STRATEGY, g), lambda g: siamese_augment([x], DSA_STRATEGY, g)[0]):
        assert torch.equal(augment(gen(3)), augment(gen(3)))
        assert sum(not torch.equal(augment(gen(3)), augment(gen(seed))) for seed in range(4, 10)) >= 5


@pytest.mark.parametrize("group", GROUPS)
def test_gradients_reach_the_images(group):
    weights = torch.rand(4, 3, 16, 16, generator=gen(9))
    for augment in (dsa_augment, lambda x, s, g: siamese_augment([x, x[:1] * 2], s, g)[0]):
        x = torch.rand(4, 3, 16, 16, generator=gen(8)).requires_grad_(True)
        (augment(x, group, gen(0)) * weights).sum().backward()
        assert x.grad is not None and bool((x.grad.flatten(1).abs().sum(1) > 0).all())


def test_per_image_draws_differ_but_the_group_is_one_per_call():
    x = image(channels=3).expand(32, -1, -1, -1)
    for seed in range(6):
        out = dsa_augment(x, DSA_STRATEGY, gen(seed))
        assert len({tuple(o.flatten().tolist()) for o in out}) > 2  # not one transform for all
        d = draw(DSA_STRATEGY, 32, (28, 28), gen(seed))
        assert torch.equal(out, d.apply(x)) and all(len(v) == 32 for v in d.values)
    calls = set()
    for seed in range(12):
        out = dsa_augment(x, "flip_color", gen(seed))
        geometric = [torch.equal(o, x[0].flip(2)) or torch.equal(o, x[0]) for o in out]
        assert all(geometric) or not any(geometric)  # every image flipped or left, or every one recoloured
        calls.add(all(geometric))
    assert calls == {True, False}


def test_flip_mirrors_the_width_with_probability_one_half():
    x = torch.arange(28.0).expand(1, 1, 28, 28) + torch.arange(28.0).view(1, 1, 28, 1) * 100
    flips = []
    for seed in SEEDS:
        out = siamese_augment([x], "flip", gen(seed))[0]
        flipped = bool(shared("flip", seed).values[0])
        assert torch.equal(out, x[..., torch.arange(27, -1, -1)] if flipped else x)
        flips.append(flipped)
    assert 10 <= sum(flips) <= 30
    assert torch.equal(dsa_augment(x, "flip", gen(0), DSAParams(prob_flip=1.0)), x.flip(3))


def test_crop_shifts_by_the_drawn_whole_pixels_with_zero_fill():
    x = image()
    shifts = set()
    for seed in SEEDS:
        out = siamese_augment([x], "crop", gen(seed))[0][0, 0]
        dy, dx = shared("crop", seed).values[0][0].tolist()
        assert max(abs(dy), abs(dx)) <= round(0.125 * 28)  # up to 4 px in each axis
        expected = torch.zeros(28, 28)
        rows, cols = slice(max(0, -dy), min(28, 28 - dy)), slice(max(0, -dx), min(28, 28 - dx))
        expected[rows, cols] = x[0, 0, max(0, dy):min(28, 28 + dy), max(0, dx):min(28, 28 + dx)]
        assert torch.equal(out, expected)
        shifts |= {dy, dx}
    assert {-4, 4} <= shifts  # both ends of the range are drawn


def test_crop_and_cutout_draw_over_the_authors_ranges():
    """Shifts of ±int(0.125·size + 0.5) px (halves round up: 20 px gives 3); centres of the cutout
    square from 0 to size − 1, or to size when its side, int(0.5·size + 0.5), is even."""
    for h, w, shift, centre in [(28, 28, (4, 4), (28, 28)), (20, 25, (3, 3), (20, 24)), (32, 27, (4, 3), (32, 27))]:
        crop, = draw("crop", 3000, (h, w), gen(0)).values
        cutout, = draw("cutout", 3000, (h, w), gen(0)).values
        assert crop.min(0).values.tolist() == [-shift[0], -shift[1]] and crop.max(0).values.tolist() == list(shift)
        assert cutout.min(0).values.tolist() == [0, 0] and cutout.max(0).values.tolist() == list(centre)


def test_cutout_zeroes_a_square_of_half_the_side_cut_off_at_the_border():
    for size, side in [(28, 14), (32, 16), (25, 13)]:
        inner = 0
        x = torch.ones(1, 1, size, size)
        for seed in SEEDS:
            zero = siamese_augment([x], "cutout", gen(seed))[0][0, 0] == 0
            rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
            r, c = shared("cutout", seed, size).values[0][0].tolist()
            assert zero.sum() == len(rows) * len(cols) and zero[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all()
            assert rows.tolist() == [i for i in range(r - side // 2, r - side // 2 + side) if 0 <= i < size]
            assert cols.tolist() == [j for j in range(c - side // 2, c - side // 2 + side) if 0 <= j < size]
            inner += len(rows) == len(cols) == side
        assert inner > 5  # whole squares, not only clipped ones


def blob(size: int, centre: tuple[float, float], width: float = 1.5) -> torch.Tensor:
    """A small Gaussian spot at (x, y) in the sampler's coordinates (-1 … 1, corners at ±1)."""
    coord = torch.linspace(-1, 1, size, dtype=torch.float64)
    x0, y0 = centre
    sigma = width * 2 / (size - 1)
    spot = torch.exp(-((coord.view(1, -1) - x0) ** 2 + (coord.view(-1, 1) - y0) ** 2) / (2 * sigma ** 2))
    return spot.view(1, 1, size, size)


def centroid(images: torch.Tensor) -> tuple[float, float]:
    coord = torch.linspace(-1, 1, images.shape[-1], dtype=images.dtype)
    mass = images[0, 0]
    return float((mass.sum(0) * coord).sum() / mass.sum()), float((mass.sum(1) * coord).sum() / mass.sum())


def test_rotation_turns_the_image_by_the_drawn_angle_within_15_degrees():
    """A spot at angle φ (x right, y down) ends at φ − θ: turned anticlockwise on screen by θ."""
    x = blob(65, (0.5, 0.0))
    angles = []
    for seed in SEEDS:
        cx, cy = centroid(siamese_augment([x], "rotate", gen(seed))[0])
        theta = float(shared("rotate", seed, 65).values[0])
        assert abs(theta) <= 15
        assert math.degrees(math.atan2(cy, cx)) == pytest.approx(-theta, abs=0.1)
        assert math.hypot(cx, cy) == pytest.approx(0.5, abs=0.002)
        angles.append(theta)
    assert min(angles) < -10 and max(angles) > 10


def test_scale_divides_each_axis_by_the_drawn_factor_within_1_over_1_2_and_1_2():
    x = blob(65, (0.5, -0.4))
    factors = []
    for seed in SEEDS:
        cx, cy = centroid(siamese_augment([x], "scale", gen(seed))[0])
        sx, sy = shared("scale", seed, 65).values[0][0].tolist()
        assert 1 / 1.2 <= min(sx, sy) and max(sx, sy) <= 1.2
        assert (cx, cy) == pytest.approx((0.5 / sx, -0.4 / sy), abs=0.003)  # the grid reads input at s·output
        factors += [sx, sy]
    assert min(factors) < 0.87 and max(factors) > 1.15


def test_a_zoom_samples_pixel_j_at_s_times_its_offset_from_the_centre():
    """Scale maps output pixel j to input position s·(j − c) + c about the centre c = (side − 1)/2, as
    the authors' warp does; bilinear sampling of a ramp is exact, so the ramp shows the mapping."""
    side = 28
    ramp = torch.arange(side, dtype=torch.float32).expand(1, 1, side, side).contiguous()
    centre = (side - 1) / 2
    zooms = [seed for seed in SEEDS if max(shared("scale", seed).values[0][0].tolist()) < 1]
    assert zooms
    for seed in zooms:
        s_width = float(shared("scale", seed).values[0][0][0])
        expected = s_width * (torch.arange(side, dtype=torch.float32) - centre) + centre
        out = siamese_augment([ramp], "scale", gen(seed))[0]
        torch.testing.assert_close(out[0, 0], expected.expand(side, side), atol=1e-4, rtol=0)


def test_colour_is_brightness_then_saturation_then_contrast_in_their_ranges():
    x = torch.rand(1, 3, 8, 8, generator=gen(4))
    drawn = []
    for seed in SEEDS:
        out = siamese_augment([x], "color", gen(seed))[0]
        b, s, c = (float(v) for v in shared("color", seed, 8).values)
        assert -0.5 <= b <= 0.5 and 0 <= s <= 2 and 0.5 <= c <= 1.5
        y = x + b
        y = (y - y.mean(1, keepdim=True)) * s + y.mean(1, keepdim=True)
        y = (y - y.mean()) * c + y.mean()
        torch.testing.assert_close(out, y)
        drawn.append((b, s, c))
    low, high = torch.tensor(drawn).min(0).values, torch.tensor(drawn).max(0).values
    assert (low < torch.tensor([-0.35, 0.3, 0.65])).all() and (high > torch.tensor([0.35, 1.7, 1.35])).all()


def test_augmentation_names():
    assert augmentation("mnist") is mnist_augment and AUGMENTATIONS == {"mnist": mnist_augment}
    x = image().expand(4, -1, -1, -1)
    assert torch.equal(augmentation("dsa:crop_flip")(x, gen(2)), dsa_augment(x, "crop_flip", gen(2)))
    for name in ("dsa", "flip", "dsa:spin"):
        with pytest.raises(ValueError):
            augmentation(name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_images_on_the_gpu_draw_from_a_cpu_generator_alike():
    x = torch.rand(8, 3, 32, 32, generator=gen(6))
    for strategy in GROUPS:
        cpu = dsa_augment(x, strategy, gen(1))
        gpu = dsa_augment(x.cuda(), strategy, gen(1))
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)
