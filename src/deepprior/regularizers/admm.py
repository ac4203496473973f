"""DIP-ℓ0 (Tran, Bui & Xin 2026): min_θ ‖f − g_θ(z)‖² + λ‖∇g_θ(z)‖₀ by ADMM with an ℓ0 solver as the v-step.

Splitting v = g with multiplier w and penalty β (sums, not means):

    θ-step:  ``inner_steps`` Adam steps on ‖g − f‖² + ⟨w, v − g⟩ + β/2‖v − g‖²   (the fit loop does these)
    v-step:  v = L0Solver(g − w/β, λ' = 2λ/β)                                  (Region Fusion by default)
    w-step:  w = w + β(v − g)
    output:  avg = 0.9·avg + 0.1·g after each outer iteration, avg₀ = f (the released code's; ``output`` may
             instead return v, or the ℓ0 projection of avg: L0Solver(avg, 2λ/β))

The v-step runs on the CPU (numba) and needs the g of the finished θ-steps, and the next θ-steps need the new v
and w: the outer iterations are strictly sequential, so the v-step cannot overlap the θ-steps without changing the
algorithm (a one-step-stale v would).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch

from ..errors import InputError
from ..registry import REGULARIZERS, SOLVERS
from ..seeding import torch_generator
from .base import BuildContext, Regularizer

INITS = ("observation", "solver", "zeros", "uniform")
#: What the fit returns: the outer iterations' average of g (the released code), the last ℓ0 iterate v, or the
#: v-step's solver applied once more to the average.
OUTPUTS = ("average", "v", "projected")


@REGULARIZERS.register("l0")
class L0ADMM(Regularizer):
    """The DIP-ℓ0 splitting as a regulariser of the fit loop (``penalty`` + ``after_step`` + ``output``).

    Parameters
    ----------
    observation
        f, (1, C, H, W) in [0, 1]: the starting average (and v₀ with ``init="observation"``).
    lam
        λ, the weight of the ℓ0 gradient norm (0.025 in the paper).
    beta
        β, the ADMM penalty (2.25 for smoothing, 2.0 for JPEG); constant.
    inner_steps
        Adam steps per outer iteration (25 in the paper).
    solver, solver_options
        The v-step: a name of :data:`deepprior.registry.SOLVERS` (``"region-fusion"``, the paper's, or
        ``"l0-smooth"``) and its options (Region Fusion's ``passes``: K = 50 in the paper).
    init
        v₀ and w₀: ``"observation"`` (v₀ = f, w₀ = 0: the default), ``"solver"`` (a warm start: v₀ = the v-step's
        solver on f, w₀ = 0), ``"zeros"`` (v₀ = w₀ = 0) or ``"uniform"`` (U[0, 1) for both, as the released code;
        seeded).
    average
        Weight of the outer-iteration average (0.9 in the paper).
    output
        The image the fit returns, one of :data:`OUTPUTS`: ``"average"`` (the released code's), ``"v"`` (the
        last ℓ0 iterate, piecewise constant) or ``"projected"`` (the solver on the average, λ' = 2λ/β).
    seed
        Seeds the ``"uniform"`` initialisation.

    References
    ----------
    .. [1] Tran, Bui & Xin, "Deep image prior with an ℓ0 gradient regulariser" (2026), and their released code.
    """

    method = "dip-l0"
    data_term = "sse"
    # the penalty reads v and w, which after_step overwrites in place: a recorded step sees each new v-step
    graph_safe = True
    v: torch.Tensor
    w: torch.Tensor
    avg: torch.Tensor

    def __init__(
        self,
        observation: torch.Tensor,
        *,
        lam: float,
        beta: float,
        inner_steps: int = 25,
        solver: str = "region-fusion",
        solver_options: dict[str, Any] | None = None,
        init: Literal["observation", "solver", "zeros", "uniform"] = "observation",
        average: float = 0.9,
        output: Literal["average", "v", "projected"] = "average",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not lam >= 0:
            raise InputError(f"lam must be >= 0, got {lam}")
        if not beta > 0:
            raise InputError(f"beta must be > 0, got {beta}")
        if inner_steps < 1:
            raise InputError(f"inner_steps must be at least 1, got {inner_steps}")
        self.solve = SOLVERS.get(solver)
        self.solver_options = dict(solver_options or {})
        unknown = set(self.solver_options) - set(inspect.signature(self.solve).parameters)
        if unknown:
            raise InputError(f"the {solver} solver takes no option {', '.join(sorted(unknown))}")
        if init not in INITS:
            raise InputError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
        if not 0 <= average < 1:
            raise InputError(f"average must be in [0, 1), got {average}")
        if output not in OUTPUTS:
            raise InputError(f"unknown output {output!r}; choose one of {', '.join(OUTPUTS)}")
        self.output_kind = output
        self.lam, self.beta, self.inner_steps = float(lam), float(beta), int(inner_steps)
        self.solver, self.init, self.average_weight = solver, init, float(average)
        f = observation.detach().float().cpu()
        if init == "observation":
            v, w = f.clone(), torch.zeros_like(f)
        elif init == "solver":
            v, w = self._l0_step(f), torch.zeros_like(f)
        elif init == "zeros":
            v, w = torch.zeros_like(f), torch.zeros_like(f)
        else:
            generator = torch_generator(seed, "regularizer")
            v, w = (torch.rand(f.shape, generator=generator) for _ in range(2))
        self.register_buffer("v", v)
        self.register_buffer("w", w)
        self.register_buffer("avg", f.clone())
        self.residuals: list[float] = []

    @classmethod
    def build(cls, context: BuildContext, **options: Any) -> L0ADMM:
        return cls(context.observation, seed=context.seed, **options)

    def penalty(self, x: torch.Tensor, step: int) -> torch.Tensor:
        diff = self.v - x
        return (self.w * diff).sum() + self.beta / 2 * (diff * diff).sum()

    def after_step(self, step: int, forward: Callable[[], torch.Tensor]) -> None:
        if (step + 1) % self.inner_steps:
            return
        g = forward()
        self.v.copy_(self._l0_step(g - self.w / self.beta))
        self.w.add_(self.v - g, alpha=self.beta)
        self.avg.lerp_(g, 1 - self.average_weight)
        self.residuals.append(float(torch.linalg.vector_norm(self.v - g)))

    def _l0_step(self, target: torch.Tensor) -> torch.Tensor:
        """The solver at λ' = 2λ/β on a (1, C, H, W) tensor, clipped to [0, 1]."""
        image = target[0].permute(1, 2, 0).cpu().numpy().astype(np.float64)
        solved = self.solve(image, 2 * self.lam / self.beta, **self.solver_options)
        return torch.from_numpy(np.clip(solved, 0, 1)).float().permute(2, 0, 1)[None]

    def output(self) -> torch.Tensor:
        if self.output_kind == "v":
            return self.v
        if self.output_kind == "projected":
            return self._l0_step(self.avg)
        return self.avg

    def get_extra_state(self) -> dict[str, Any]:
        return {"residuals": list(self.residuals)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.residuals = list(state["residuals"])

    def describe(self) -> dict[str, Any]:
        return {
            "lam": self.lam,
            "beta": self.beta,
            "inner_steps": self.inner_steps,
            "solver": self.solver,
            "solver_options": self.solver_options,
            "init": self.init,
            "average": self.average_weight,
            "output": self.output_kind,
            "residuals": self.residuals,
        }
