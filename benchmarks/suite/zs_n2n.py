"""Zero-Shot Noise2Noise (ZS-N2N), the training-free denoiser a user would try before DIP: a peer of the suites.

Mansour & Heckel (CVPR 2023) split the noisy image y into two half-size images by averaging the two pixels on
each diagonal of every 2×2 block, D₁(y) and D₂(y), whose noises are independent where y's are, and fit a
two-layer network f_θ that maps one to the other (Noise2Noise on a single image). The denoiser is the residual
g_θ(x) = x − f_θ(x) (f predicts the noise), and the loss adds a consistency term: denoise-then-split should equal
split-then-denoise,

    L(θ) = ½(‖g_θ(D₁y) − D₂y‖² + ‖g_θ(D₂y) − D₁y‖²) + ½(‖g_θ(D₁y) − D₁g_θ(y)‖² + ‖g_θ(D₂y) − D₂g_θ(y)‖²),

with every norm a mean over pixels. The result is g_θ(y) clipped to [0, 1]. The network is 3×3 conv (C → 48),
LeakyReLU 0.2, 3×3 conv (48 → 48), LeakyReLU 0.2, 1×1 conv (48 → C); Adam at 10⁻³ for 3000 steps, the rate
halved every 1000 (the authors' published notebook). Written here from that description; nothing stops early,
nothing needs σ.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# the authors' published hyperparameters
ITERATIONS = 3000
LEARNING_RATE = 1e-3
DECAY_EVERY = 1000
DECAY = 0.5
WIDTH = 48


def pair_downsample(y: Any) -> tuple[Any, Any]:
    """D₁(y), D₂(y): each 2×2 block's main-diagonal and anti-diagonal means, (N, C, H//2, W//2) each."""
    import torch.nn.functional as F

    channels = y.shape[1]
    main = y.new_tensor([[0.5, 0.0], [0.0, 0.5]]).expand(channels, 1, 2, 2)
    anti = y.new_tensor([[0.0, 0.5], [0.5, 0.0]]).expand(channels, 1, 2, 2)
    return F.conv2d(y, main, stride=2, groups=channels), F.conv2d(y, anti, stride=2, groups=channels)


def zs_n2n_denoise(
    y: np.ndarray,
    *,
    iterations: int = ITERATIONS,
    width: int = WIDTH,
    seed: int = 0,
    device: str = "auto",
) -> np.ndarray:
    """Denoise ``y`` (H×W×C in [0, 1]) by ZS-N2N; returns H×W×C float32 in [0, 1].

    ``seed`` draws the network's initial weights (the method has no other randomness)."""
    import torch
    from torch import nn

    from deepprior.device import resolve_device
    from deepprior.errors import InputError
    from deepprior.loop import as_numpy_image, as_tensor_image

    if iterations < 1:
        raise InputError(f"ZS-N2N needs at least one step, got iterations={iterations}")
    if min(y.shape[:2]) < 2:
        raise InputError(f"ZS-N2N splits 2×2 blocks: the image must be at least 2×2, got {y.shape[1]}×{y.shape[0]}")
    target = resolve_device(device)
    observed = as_tensor_image(np.asarray(y, dtype=np.float32)).to(target)
    channels = observed.shape[1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        noise_net = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, width, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, channels, 1),
        ).to(target)

    def denoiser(x: torch.Tensor) -> torch.Tensor:
        return x - noise_net(x)

    optimizer = torch.optim.Adam(noise_net.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=DECAY_EVERY, gamma=DECAY)
    # the two halves go through the network as one batch of two: the mean over both is the loss's ½(a + b), since
    # they have the same size, in one pass instead of two
    first, second = pair_downsample(observed)
    halves, swapped = torch.cat([first, second]), torch.cat([second, first])
    mse = nn.functional.mse_loss
    for _ in range(iterations):
        from_halves = denoiser(halves)
        residual = mse(from_halves, swapped)
        consistency = mse(from_halves, torch.cat(pair_downsample(denoiser(observed))))
        optimizer.zero_grad(set_to_none=True)
        (residual + consistency).backward()
        optimizer.step()
        schedule.step()
    with torch.no_grad():
        out = denoiser(observed).clamp(0, 1)
    return as_numpy_image(out).astype(np.float32)


__all__ = ["ITERATIONS", "pair_downsample", "zs_n2n_denoise"]
