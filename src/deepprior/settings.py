"""The settings of the fit loop, without torch: the preset table and the command line build them cheaply."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import InputError

#: How :func:`deepprior.loop.fit` picks the image it returns. ``auto``: the early-stopping pick if a stopping rule
#: chose one, else the regulariser's own output (DIP-ℓ0's average), else the running average, else the last output.
OUTPUT_POLICIES = ("auto", "early-stop", "regularizer", "average", "last")

#: The modes of ``torch.compile`` a fit may ask for (:attr:`FitSettings.compile`).
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass
class FitSettings:
    """Settings of the loop; the preset table fills them from the papers and every field can be overridden.

    Attributes
    ----------
    iterations
        Adam steps (an upper bound when ``stop`` names a stopping rule).
    lr
        Adam's learning rate.
    reg_noise_std
        σ_reg: each step feeds z + σ_reg·N(0, 1), fresh noise every step; 0 disables it.
    average
        Weight a of the exponential output average, avg ← a·avg + (1 − a)·out (0.99 in the paper); 0 or None: off.
    backtrack
        Restore the state of the last good check (weights, Adam, the regulariser and every callback) when
        PSNR(A·out, y) drops by more than ``backtrack_drop`` dB between checks.
    data_term
        Name of the data term E(A·x, y) (:data:`deepprior.registry.DATA_TERMS`): ``"mse"`` (DIP) or ``"sse"``
        (DIP-ℓ0's ADMM, whose λ and β are calibrated for sums).
    stop
        ``"fixed"`` runs every step; a name of :data:`deepprior.registry.STOPPERS` (``"es-wmv"``, ``"es-emv"``)
        stops without ground truth.
    stop_options
        Keyword options of the stopping rule (``window``, ``patience``, ``alpha``, ...), checked against it.
    discrepancy
        τ of the discrepancy principle (V. A. Morozov, Soviet Math. Dokl. 7, 1966), for additive Gaussian noise:
        the stopping rule may stop the fit only once the RMS residual ‖A·x − y‖/√N has fallen to τ·σ̂, σ̂ the
        noise level estimated from y (:func:`deepprior.metrics.noise_sigma`). It keeps an early variance minimum
        of a textured image, whose output is still blurred, from ending the fit. None: no such condition.
    check_every
        Steps between host synchronisations: progress, backtracking and stopping checks.
    output
        Which image to return (see :data:`OUTPUT_POLICIES`).
    seed
        The one seed of a run: the network's weights, the input z and the jitter derive from it
        (:func:`deepprior.seeding.seed_for`), so the same seed on the same CPU gives bit-identical results.
    channels_last, amp
        Memory format and bf16 autocast; None = automatic (:func:`deepprior.device.fast_defaults`: channels_last
        on CPUs with AVX-512; bf16 on CPUs that compute bf16 in hardware; on CUDA neither, plain fp32 being
        fastest there).
    threads
        CPU threads: None leaves torch's setting as it is; a number fixes it (results are bit-identical only for
        the same number); ``"auto"`` takes the cores that are free at the start and looks again at every check,
        so that a busy neighbour never makes the fit wait for threads it cannot run (the command line's default).
    optimize_input
        Also train z.
    compile
        Wrap the generator in ``torch.compile``: True for its default mode, or the name of a mode (one of
        :data:`COMPILE_MODES`; ``"reduce-overhead"`` replays the network's kernels as CUDA graphs). Off by
        default: compiling and capturing cost more than a paper-length fit saves, even where each step is
        faster (benchmarks/results/gpu/README.md, the fifth run).
    cuda_graph
        On CUDA, record the whole step (jittered input, forward, loss, backward, Adam) as a CUDA graph after a
        few eager steps and replay it (:mod:`deepprior.step_graph`): one launch per step instead of hundreds,
        nothing compiled. Ignored on other devices and by fits stepped together (:mod:`deepprior.batch`, which
        step eagerly); a regulariser that is not ``graph_safe`` (a plug-in's that replaces its tensors between
        steps) is stepped eagerly, with a warning. Not with ``compile``. Off by default until a GPU run measures
        it.
    time_limit
        Seconds of steps after which the fit ends: after a step, if the next one (as long as the last one) would
        end after the limit, the fit stops there and returns what ``output`` picks at that step (the
        early-stopping pick so far, the average, ...), and its history notes a ``"time limit"`` event. The first
        step always runs. None: no limit. With a limit, how far a fit gets depends on the machine.
    """

    iterations: int = 3000
    lr: float = 0.01
    reg_noise_std: float = 0.0
    average: float | None = None
    backtrack: bool = False
    backtrack_drop: float = 5.0
    data_term: str = "mse"
    stop: str = "fixed"
    stop_options: dict[str, Any] = field(default_factory=dict)
    discrepancy: float | None = None
    check_every: int = 25
    output: Literal["auto", "early-stop", "regularizer", "average", "last"] = "auto"
    seed: int = 0
    channels_last: bool | None = None
    amp: bool | None = None
    threads: int | Literal["auto"] | None = None
    optimize_input: bool = False
    compile: bool | str = False
    cuda_graph: bool = False
    time_limit: float | None = None

    def validate(self) -> None:
        """Raise :class:`InputError` on nonsense values, naming the setting."""
        if isinstance(self.iterations, bool) or not isinstance(self.iterations, int) or self.iterations < 1:
            raise InputError(f"iterations must be a whole number >= 1, got {self.iterations!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"lr must be a positive number, got {self.lr}")
        if not (self.reg_noise_std >= 0 and math.isfinite(self.reg_noise_std)):
            raise InputError(f"reg_noise_std must be >= 0, got {self.reg_noise_std}")
        if self.average is not None and not 0 <= self.average < 1:
            raise InputError(f"average must be in [0, 1), got {self.average}")
        if not (self.backtrack_drop > 0):
            raise InputError(f"backtrack_drop must be > 0, got {self.backtrack_drop}")
        if self.discrepancy is not None and not (self.discrepancy > 0 and math.isfinite(self.discrepancy)):
            raise InputError(f"discrepancy must be a positive number (τ, about 1) or None, got {self.discrepancy}")
        if self.check_every < 1:
            raise InputError(f"check_every must be at least 1, got {self.check_every}")
        if self.output not in OUTPUT_POLICIES:
            raise InputError(f"output must be one of {', '.join(OUTPUT_POLICIES)}, got {self.output!r}")
        if (
            self.threads is not None
            and self.threads != "auto"
            and (isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1)
        ):
            raise InputError(f"threads must be a whole number >= 1 or 'auto', got {self.threads!r}")
        if not isinstance(self.compile, bool) and self.compile not in COMPILE_MODES:
            raise InputError(f"compile must be True, False or one of {', '.join(COMPILE_MODES)}, got {self.compile!r}")
        if not isinstance(self.cuda_graph, bool):
            raise InputError(f"cuda_graph must be True or False, got {self.cuda_graph!r}")
        if self.cuda_graph and self.compile:
            raise InputError("cuda_graph and compile are two ways to graph a step: ask for one of them")
        check_time_limit(self.time_limit)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"seed must be a whole number >= 0, got {self.seed!r}")
        from .registry import DATA_TERMS, STOPPERS

        DATA_TERMS.get(self.data_term)
        STOPPERS.get(self.stop)


def check_time_limit(seconds: object) -> None:
    """Refuse a time limit that is neither None nor a positive, finite number of seconds."""
    if seconds is None:
        return
    number = isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
    if not (number and seconds > 0 and math.isfinite(seconds)):
        raise InputError(f"time_limit must be a positive number of seconds or None, got {seconds!r}")


__all__ = ["COMPILE_MODES", "FitSettings", "OUTPUT_POLICIES", "check_time_limit"]
