import numpy as np
import pytest
import torch

import deepprior
from deepprior.errors import InputError
from deepprior.metrics import psnr
from deepprior.regularizers import BuildContext, build_regularizer, total_variation
from deepprior.regularizers.admm import L0ADMM
from helpers import TINY


def blocks_with_texture(size: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flat colour rectangles (the truth) and the same with a fine texture added (the input)."""
    clean = np.zeros((size, size, 3), np.float32)
    clean[:] = (0.2, 0.3, 0.7)
    clean[: size // 2, : size // 2] = (0.9, 0.8, 0.2)
    clean[size // 3 :, size // 2 :] = (0.3, 0.8, 0.4)
    yy, xx = np.mgrid[0:size, 0:size]
    texture = 0.08 * np.sin(xx * 1.9) * np.sin(yy * 2.3)
    rng = np.random.default_rng(seed)
    textured = np.clip(clean + texture[..., None] + rng.normal(0, 0.02, clean.shape), 0, 1).astype(np.float32)
    return clean, textured


def test_total_variation_values():
    x = torch.zeros(1, 1, 3, 3)
    x[..., :, 2] = 1.0  # one vertical edge of height 3
    assert total_variation(x, "anisotropic", "sum") == pytest.approx(3.0)
    assert total_variation(x, "anisotropic", "mean") == pytest.approx(3.0 / 9)
    assert total_variation(x, "isotropic", "sum") == pytest.approx(2.0, abs=1e-3)  # (H-1)×(W-1) grid
    with pytest.raises(InputError):
        total_variation(x, "l2")
    for bad in (x[0], x.numpy(), np.zeros((3, 3, 3))):  # an (H, W, C) array would be differenced along W and C
        with pytest.raises(InputError, match=r"an \(N, C, H, W\) torch.Tensor, got a"):
            total_variation(bad)


def test_two_stage_tv_switches_off_after_the_fraction():
    context = BuildContext(observation=torch.rand(1, 3, 8, 8), image_size=(8, 8), iterations=30)
    reg = build_regularizer("two-stage-tv", context, lam=0.1)
    x = torch.rand(1, 3, 8, 8)
    assert reg.penalty(x, 9) is not None and reg.penalty(x, 10) is None
    with pytest.raises(InputError):
        build_regularizer("two-stage-tv", context, lam=0.1, fraction=0)
    with pytest.raises(InputError):
        build_regularizer("tv", context, lam=-1)
    with pytest.raises(InputError, match="regulariser 'tv'"):
        build_regularizer("tv", context, lam=0.1, beta=2)


def test_dip_tv_lowers_the_outputs_total_variation_against_plain_dip():
    _, textured = blocks_with_texture(40)
    common = dict(iterations=80, lr=0.01, progress=False, generator_options=TINY, seed=1, average=0)
    plain = deepprior.denoise(textured, **common).image
    regular = deepprior.denoise(textured, regularizer="tv", lam=0.5, **common).image
    tv = lambda a: float(total_variation(torch.from_numpy(a).permute(2, 0, 1)[None]))
    assert tv(regular) < 0.8 * tv(plain)


@pytest.mark.slow
def test_dip_l0_beats_the_input_and_its_admm_residual_shrinks():
    clean, textured = blocks_with_texture(48)
    result = deepprior.smooth(
        textured,
        method="dip-l0",
        iterations=300,
        lr=0.01,
        progress=False,
        seed=0,
        generator_options=TINY,
        regularizer_options={"inner_steps": 25, "lam": 0.025},
    )
    assert psnr(result.image, clean) > psnr(textured, clean) + 1.0
    residuals = result.record.regularizer["residuals"]
    assert len(residuals) == 12
    assert residuals[-1] < 0.5 * residuals[0]
    assert result.record.output_source == "regularizer"


def test_dip_l0_is_reproducible_and_validates_parameters():
    _, textured = blocks_with_texture(40)
    run = lambda: (
        deepprior.smooth(
            textured, iterations=50, progress=False, generator_options=TINY, regularizer_options={"init": "uniform"}
        ).image
    )
    assert np.array_equal(run(), run())
    f = torch.rand(1, 3, 8, 8)
    for bad in (
        dict(lam=-1),
        dict(beta=0),
        dict(solver="bm3d"),
        dict(init="ones"),
        dict(inner_steps=0),
        dict(solver_options={"kappa": 2}),
        dict(output="median"),
    ):
        with pytest.raises(InputError):
            L0ADMM(f, **{"lam": 0.025, "beta": 2.0, **bad})


def test_dip_l0_outputs_the_average_the_l0_iterate_or_the_projected_average():
    clean, textured = blocks_with_texture(32)
    g = torch.from_numpy(textured).permute(2, 0, 1)[None].float()

    def after_three_outer_iterations(output):
        regularizer = L0ADMM(g, lam=0.025, beta=2.0, inner_steps=1, output=output)
        for step in range(3):
            regularizer.after_step(step, lambda: g)
        return regularizer

    average, v, projected = (after_three_outer_iterations(kind) for kind in ("average", "v", "projected"))
    assert torch.equal(average.output(), average.avg) and torch.equal(v.output(), v.v)
    assert torch.equal(projected.avg, average.avg)  # the same iterations, only the returned image differs
    flat = projected.output()
    assert not torch.equal(flat, average.avg)

    def edges(x):  # pixels whose right neighbour differs
        return int((x[..., 1:] != x[..., :-1]).any(dim=1).sum())

    assert edges(flat) < edges(average.avg) / 4  # piecewise constant, as an ℓ0 solution is
    assert projected.describe()["output"] == "projected"


def test_dip_l0_warm_start_begins_from_the_solvers_output():
    _, textured = blocks_with_texture(32)
    f = torch.from_numpy(textured).permute(2, 0, 1)[None].float()
    warm = L0ADMM(f, lam=0.025, beta=2.0, init="solver")
    cold = L0ADMM(f, lam=0.025, beta=2.0)
    assert torch.equal(cold.v, f) and torch.equal(warm.v, cold._l0_step(f))  # v₀ = the v-step's solver on f
    assert not torch.equal(warm.v, f) and torch.equal(warm.w, torch.zeros_like(f))
    assert torch.equal(warm.avg, f) and warm.describe()["init"] == "solver"


def test_classical_smoothers_through_the_public_api():
    clean, textured = blocks_with_texture(48)
    for method in ("region-fusion", "l0-smooth"):
        result = deepprior.smooth(textured, method=method)
        assert result.image.shape == textured.shape and result.image.dtype == np.float32
        assert psnr(result.image, clean) > psnr(textured, clean)
    with pytest.raises(InputError, match="do not apply"):
        deepprior.smooth(textured, method="region-fusion", iterations=10)
    with pytest.raises(InputError, match="smooth method"):
        deepprior.smooth(textured, method="median")
