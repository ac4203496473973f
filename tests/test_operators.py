import numpy as np
import pytest
import torch

from deepprior.errors import InputError
from deepprior.operators import Identity, Mask, lanczos2_kernel, lanczos_downsampler

PAPER_X4_TAPS = [
    -0.0011,
    -0.0098,
    -0.0204,
    -0.0149,
    0.0246,
    0.0987,
    0.1831,
    0.2397,
    0.2397,
    0.1831,
    0.0987,
    0.0246,
    -0.0149,
    -0.0204,
    -0.0098,
    -0.0011,
]


def test_lanczos_x4_taps_match_the_reference():
    taps = lanczos2_kernel(4)
    assert taps.shape == (16,)
    np.testing.assert_allclose(taps, PAPER_X4_TAPS, atol=6e-5)
    assert taps.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("factor", [2, 3, 4, 8])
def test_kernel_is_symmetric_normalised_and_4f_long(factor):
    taps = lanczos2_kernel(factor)
    assert taps.shape == (4 * factor,)
    np.testing.assert_allclose(taps, taps[::-1])
    assert taps.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("factor", [1, 0, 2.5, -4])
def test_bad_factors_are_rejected(factor):
    with pytest.raises(InputError):
        lanczos2_kernel(factor)


def test_downsampler_shapes_and_constant_preservation():
    down = lanczos_downsampler(4)
    x = torch.full((1, 3, 64, 48), 0.37)
    y = down(x)
    assert y.shape == (1, 3, 16, 12)
    assert down.observation_shape(64, 48) == (16, 12)
    assert down.image_shape(16, 12) == (64, 48)
    torch.testing.assert_close(y, torch.full_like(y, 0.37))
    with pytest.raises(InputError, match="multiple"):
        down(torch.rand(1, 3, 30, 32))


def test_downsampler_is_depthwise_and_linear():
    down = lanczos_downsampler(2)
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(down(2 * a + b), 2 * down(a) + down(b))
    only_red = a.clone()
    only_red[:, 1:] = 0
    assert down(only_red)[:, 1:].abs().max() == 0  # channels do not mix
    # A checkerboard (Nyquist) is strongly attenuated by the antialiasing filter.
    checker = (torch.arange(32)[:, None] + torch.arange(32)[None]) % 2
    assert down(checker.float()[None, None]).std() < 0.05


def test_mask_and_identity():
    mask = np.zeros((4, 5), bool)
    mask[1:3, 2:] = True
    op = Mask(mask)
    x = torch.rand(1, 3, 4, 5)
    y = op(x)
    assert torch.equal(y[..., ~torch.from_numpy(mask)], torch.zeros_like(y[..., ~torch.from_numpy(mask)]))
    assert torch.equal(y[..., torch.from_numpy(mask)], x[..., torch.from_numpy(mask)])
    assert Identity()(x) is x
    with pytest.raises(InputError, match="mask is"):
        op(torch.rand(1, 3, 5, 5))
