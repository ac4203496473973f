"""Benchmark suites: which images, how the degraded inputs are made, how outputs are scored, and the papers' figures.

A suite is one entry of the registry :data:`SUITES`. Its ``items`` function lists the images of a data folder
(cheap: paths only); ``load`` reads one image and prepares the degraded input(s) and the ground truth for a
:class:`Profile`. The data folder is resolved by :func:`benchmarks.common.data_dir`; the papers' figures are read
from ``benchmarks/paper_figures.json``.

This module imports only numpy and Pillow at import time, so ``python -m benchmarks.run_suites list`` stays fast.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import DATA_ENV, centre_box, centre_crop
from deepprior.errors import InputError
from deepprior.registry import Registry

QUICK_LABEL = "QUICK PROFILE — not a reproduction"
CROPS_LABEL = "CPU CROPS PROFILE — 128×128 centre crops, not a paper reproduction"
FULL_LABEL = "FULL-SIZE EXPERIMENT — the methods' settings changed, not a paper reproduction"
PAPER_FIGURES = Path(__file__).resolve().parents[1] / "paper_figures.json"


# --------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class Profile:
    """How much of each image and how much compute a run uses.

    ``crop``: side of the centre crop of every input (None = the full image); ``sr_crop``: side of the centre crop
    of the super-resolution ground truth before the low-resolution input is made from it; ``iterations`` and
    ``channels``: DIP steps and skip-net width (None = the task preset's, i.e. the paper's).
    """

    name: str
    crop: int | None = None
    sr_crop: int | None = None
    iterations: int | None = None
    channels: int | None = None
    label: str | None = None
    description: str = ""

    @property
    def comparable(self) -> bool:
        """True when the numbers may be set beside the papers' figures."""
        return self.label is None

    def settings(self) -> dict[str, Any]:
        """What makes two runs of a suite comparable (stored in the results JSON)."""
        return {"crop": self.crop, "sr_crop": self.sr_crop, "iterations": self.iterations, "channels": self.channels}

    def with_overrides(
        self, *, crop: int | None = None, iterations: int | None = None, channels: int | None = None
    ) -> Profile:
        """A copy with some values replaced (profiles comparable with the papers take none)."""
        if crop is None and iterations is None and channels is None:
            return self
        if self.comparable:
            others = " or ".join(name for name, profile in PROFILES.items() if not profile.comparable)
            raise InputError(
                f"--crop, --iterations and --channels change the {self.name} profile; they are only "
                f"accepted with --profile {others}"
            )
        sr_crop = self.sr_crop
        if crop is not None:
            sr_crop = max(64, -(-crop // 32) * 32)  # crop rounded up to a multiple of 32
        crop = crop if crop is not None else self.crop
        iterations = iterations if iterations is not None else self.iterations
        channels = channels if channels is not None else self.channels
        return Profile(
            self.name,
            crop,
            sr_crop,
            iterations,
            channels,
            self.label,
            _quick_description(crop, sr_crop, iterations, channels)
            if self.name == "quick"
            else f"{self.description}; here: crop {crop}, {iterations} DIP steps, {channels} channels (None: the "
            "method's own)",
        )


def _quick_description(crop: int | None, sr_crop: int | None, iterations: int | None, channels: int | None) -> str:
    return (
        f"smoke test: {crop}×{crop} centre crops (SR: {sr_crop}×{sr_crop} ground-truth crops), skip net with "
        f"{channels} channels, {iterations} DIP steps; minutes on a CPU"
    )


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        "quick",
        crop=96,
        sr_crop=128,
        iterations=200,
        channels=32,
        label=QUICK_LABEL,
        description=_quick_description(96, 128, 200, 32),
    ),
    "paper": Profile(
        "paper", description="the papers' settings on the full images (task presets); needs an accelerator"
    ),
    "crops": Profile(
        "crops",
        crop=128,
        sr_crop=128,
        label=CROPS_LABEL,
        description="every method with its own settings (full networks and step counts, the library's "
        "ground-truth-free stops) on 128×128 centre crops (SR: 128×128 ground-truth crops), to compare the "
        "presets with each other and with the classical methods on a CPU; the crops make the numbers differ from "
        "the papers' full-image figures",
    ),
    "full": Profile(
        "full",
        label=FULL_LABEL,
        description="the full images with the methods' settings changed by --channels, --iterations or --crop "
        "(experiments, e.g. a wider fast network); needs an accelerator",
    ),
}


# --------------------------------------------------------------------------- samples


@dataclass
class Item:
    """One image of a suite before loading: its name and source files (relative names are kept for the record)."""

    name: str
    files: dict[str, Path]


@dataclass
class Sample:
    """A loaded benchmark image.

    ``inputs`` holds ``observation`` (the degraded image the method sees, (H, W, C) float32 in [0, 1]) and, by
    task, ``mask`` (bool (H, W), True = known), ``flash`` (the flash image); ``truth`` the ground truth or None;
    ``meta`` anything the methods may use (``scale``, ``sigma``) or the record should keep (``reference``).
    """

    name: str
    inputs: dict[str, np.ndarray]
    truth: np.ndarray | None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def observation(self) -> np.ndarray:
        return self.inputs["observation"]

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of the image a method must return."""
        if self.truth is not None:
            return self.truth.shape
        scale = int(self.meta.get("scale") or 1)
        h, w, c = self.observation.shape
        return (h * scale, w * scale, c)

    @property
    def pixels(self) -> int:
        shape = self.output_shape
        return int(shape[0] * shape[1])


# --------------------------------------------------------------------------- image helpers


def _read(path: Path) -> np.ndarray:
    from deepprior.io import read_image

    return read_image(path).pixels


def _read_rgba_composite(path: Path) -> np.ndarray:
    """RGB·alpha (composited on black), as the clip-art JPEGs were made; plain RGB if there is no alpha."""
    from deepprior.io import read_image

    image = read_image(path)
    if image.alpha is None:
        return image.pixels
    return (image.pixels * image.alpha[..., None]).astype(np.float32)


def crop_to_multiple(array: np.ndarray, multiple: int) -> np.ndarray:
    """Centre crop so that both sides are multiples of ``multiple`` (the DIP SR protocol uses 32)."""
    h, w = array.shape[:2]
    new_h, new_w = h - h % multiple, w - w % multiple
    if new_h == 0 or new_w == 0:
        raise InputError(f"an image of {w}×{h} pixels is smaller than {multiple} pixels")
    top, left = centre_box(h, w, new_h, new_w)
    return array[top : top + new_h, left : left + new_w]


def to_uint8(array: np.ndarray) -> np.ndarray:
    return np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)


def quantize(array: np.ndarray) -> np.ndarray:
    """Round to 8 bits (what a saved PNG holds), as float32 in [0, 1]."""
    return (to_uint8(array).astype(np.float32) / 255.0).astype(np.float32)


def _pil(array: np.ndarray) -> Any:
    from PIL import Image

    data = to_uint8(array)
    return Image.fromarray(data[..., 0] if data.shape[2] == 1 else data)


def _from_pil(image: Any) -> np.ndarray:
    data = np.asarray(image, dtype=np.float32) / 255.0
    return data[..., None] if data.ndim == 2 else data


def lanczos_downscale(hr: np.ndarray, factor: int) -> np.ndarray:
    """The paper's LR input: PIL Lanczos resize of the (8-bit) HR image by 1/factor."""
    from PIL import Image

    h, w = hr.shape[:2]
    if h % factor or w % factor:
        raise InputError(f"the HR image ({w}×{h}) is not a multiple of the factor {factor}")
    return _from_pil(_pil(hr).resize((w // factor, h // factor), Image.Resampling.LANCZOS))


def bicubic_upscale(lr: np.ndarray, factor: int) -> np.ndarray:
    """PIL bicubic upscaling of the LR image (the paper's bicubic baseline)."""
    from PIL import Image

    h, w = lr.shape[:2]
    return _from_pil(_pil(lr).resize((w * factor, h * factor), Image.Resampling.BICUBIC))


# --------------------------------------------------------------------------- scoring


def score(metric: str, output: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(PSNR, SSIM) of ``output`` against ``truth`` by the suite's protocol.

    ``"rgb"``: on all channels in [0, 1] (skimage, data_range 1, SSIM with channel_axis 2);
    ``"y-sr"``: the DIP SR protocol — luma Y' = (219·Y + 16)/255 after cropping 4 px top/left and 5 px
    bottom/right (:func:`deepprior.metrics.psnr_y_sr`); SSIM on the same cropped Y'.
    """
    from deepprior.metrics import psnr, psnr_y_sr, rgb_to_y, sr_crop, ssim

    if output.shape != truth.shape:
        raise InputError(f"the output is {output.shape} but the ground truth is {truth.shape}")
    if metric == "rgb":
        return psnr(output, truth), ssim(output, truth)
    if metric == "y-sr":
        return psnr_y_sr(output, truth), ssim(sr_crop(rgb_to_y(output)), sr_crop(rgb_to_y(truth)))
    raise InputError(f"unknown metric {metric!r}")


# --------------------------------------------------------------------------- data folder


def _folder(root: Path, relative: str, suite: str) -> Path:
    path = root / relative
    if not path.is_dir():
        raise InputError(
            f"suite {suite}: folder '{path}' does not exist (is --data-dir / ${DATA_ENV} the shared data folder?)"
        )
    return path


def _file(path: Path, suite: str) -> Path:
    if not path.is_file():
        raise InputError(f"suite {suite}: file '{path}' does not exist")
    return path


# --------------------------------------------------------------------------- per-suite data


DENOISE_DIR = "dip/project_page/Denoising/Color/25"
INPAINT_DIR = "dip/project_page/Reconstruction/Gray/50p"
NKS_DIR = "nks/validation"
CLIPART_DIR = "clipart"


def _pairs(root: Path, relative: str, suffix: str, suite: str) -> list[Item]:
    """Images named NAME{suffix} with a NAME_GT.png beside them."""
    folder = _folder(root, relative, suite)
    items = []
    for path in sorted(folder.glob(f"*{suffix}")):
        name = path.name[: -len(suffix)]
        items.append(Item(name, {"observation": path, "truth": _file(folder / f"{name}_GT.png", suite)}))
    if not items:
        raise InputError(f"suite {suite}: no '*{suffix}' image in '{folder}'")
    return items


def _denoise_items(root: Path) -> list[Item]:
    return _pairs(root, DENOISE_DIR, "_noisy.png", "denoise-color25")


def _denoise_load(item: Item, profile: Profile) -> Sample:
    noisy, truth = _read(item.files["observation"]), _read(item.files["truth"])
    return Sample(
        item.name,
        {"observation": centre_crop(noisy, profile.crop)},
        centre_crop(truth, profile.crop),
        {"sigma": 25 / 255},
    )


#: The deblurring suite's degradation: the ground truth blurred by this PSF (:func:`deepprior.psf.psf_from_spec`),
#: mirrored at its borders, then Gaussian noise of this σ, then 8 bits, then the crop (so a crop's border holds
#: what was blurred in from outside it, as in a photograph).
DEBLUR_PSF = "gaussian:2"
DEBLUR_SIGMA = 0.01


def _deblur_items(root: Path) -> list[Item]:
    return _pairs(root, DENOISE_DIR, "_noisy.png", "deblur-gauss2")  # the noisy files are not used


def _deblur_load(item: Item, profile: Profile) -> Sample:
    import zlib

    from scipy.ndimage import convolve

    from deepprior.psf import psf_from_spec

    truth = _read(item.files["truth"])
    kernel = psf_from_spec(DEBLUR_PSF)[0]
    blurred = np.stack([convolve(truth[..., c], kernel, mode="mirror") for c in range(truth.shape[2])], axis=2)
    noise = np.random.default_rng(zlib.crc32(item.name.encode())).normal(0.0, DEBLUR_SIGMA, blurred.shape)
    observation = quantize(blurred + noise)
    return Sample(
        item.name,
        {"observation": centre_crop(observation, profile.crop)},
        centre_crop(truth, profile.crop),
        {"psf": DEBLUR_PSF, "sigma": DEBLUR_SIGMA},
    )


def _sr_items(relative: str, suite: str) -> Callable[[Path], list[Item]]:
    def items(root: Path) -> list[Item]:
        folder = _folder(root, relative, suite)
        found = [Item(p.name[: -len("_GT.png")], {"truth": p}) for p in sorted(folder.glob("*_GT.png"))]
        if not found:
            raise InputError(f"suite {suite}: no '*_GT.png' image in '{folder}'")
        return found

    return items


def _sr_load(factor: int) -> Callable[[Item, Profile], Sample]:
    def load(item: Item, profile: Profile) -> Sample:
        truth = crop_to_multiple(_read(item.files["truth"]), 32)
        if profile.sr_crop is not None:
            truth = crop_to_multiple(centre_crop(truth, profile.sr_crop), 32)
        truth = quantize(truth)
        return Sample(item.name, {"observation": lanczos_downscale(truth, factor)}, truth, {"scale": factor})

    return load


def _inpaint50_items(root: Path) -> list[Item]:
    return _pairs(root, INPAINT_DIR, "_masked.png", "inpaint-50p")


def _inpaint50_load(item: Item, profile: Profile) -> Sample:
    from PIL import Image

    with Image.open(item.files["observation"]) as image:
        raw = np.asarray(image.convert("L"))
    known = centre_crop(raw, profile.crop) != 0  # the published masked images: 0 = missing pixel
    masked = centre_crop(_read(item.files["observation"]), profile.crop)
    truth = centre_crop(_read(item.files["truth"]), profile.crop)
    if truth.shape[2] == 3 and masked.shape[2] == 1:
        truth = truth.mean(axis=2, keepdims=True)
    return Sample(item.name, {"observation": masked, "mask": known}, truth, {"known_fraction": float(known.mean())})


_NKS_NAME = re.compile(r"^(S\d+)_T\d+$")


def nks_folders(root: Path) -> tuple[Path, Path]:
    """(inputs, ground truths) of an NKS-layout folder.

    ``root`` is the shared data folder (uses ``nks/validation`` and ``nks/gt``), or a folder of ``S{s}_T{t}.png``
    inputs whose ground truths ``S{s}.png`` are in its ``gt/`` sub-folder or in a ``gt/`` folder beside it.
    """
    if (root / NKS_DIR).is_dir():
        return root / NKS_DIR, root / "nks" / "gt"
    if any(_NKS_NAME.match(p.stem) for p in root.glob("S*_T*.png")):
        for gt in (root / "gt", root.parent / "gt"):
            if gt.is_dir():
                return root, gt
        raise InputError(f"suite smooth-nks: no ground-truth folder 'gt' in or beside '{root}'")
    raise InputError(f"suite smooth-nks: '{root}' holds neither nks/validation nor S*_T*.png inputs")


def _nks_items(root: Path) -> list[Item]:
    inputs, gt = nks_folders(root)
    items = []
    for path in sorted(inputs.glob("S*_T*.png")):
        match = _NKS_NAME.match(path.stem)
        if not match:
            continue
        structure = match.group(1)
        truth = gt / f"{structure}.png"
        if not truth.is_file() and (gt / f"{structure}_reconstructed.png").is_file():
            truth = gt / f"{structure}_reconstructed.png"
        items.append(Item(path.stem, {"observation": path, "truth": _file(truth, "smooth-nks")}))
    if not items:
        raise InputError(f"suite smooth-nks: no S*_T*.png input in '{inputs}'")
    return items


def _nks_load(item: Item, profile: Profile) -> Sample:
    observation = centre_crop(_read(item.files["observation"]), profile.crop)
    truth = centre_crop(_read(item.files["truth"]), profile.crop)
    meta: dict[str, Any] = {}
    if "reconstructed" in item.files["truth"].name:
        meta["reference_note"] = f"ground truth {item.files['truth'].name} is an estimate (the release lacks it)"
    return Sample(item.name, {"observation": observation}, truth, meta)


def _clipart_items(root: Path) -> list[Item]:
    folder = _folder(root, CLIPART_DIR, "deblock-clipart")
    corrupted = _folder(root, f"{CLIPART_DIR}/corrupted", "deblock-clipart")
    paths = sorted(corrupted.glob("clip*.jpg"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0))
    items = [
        Item(p.stem, {"observation": p, "truth": _file(folder / "gt" / f"{p.stem}.png", "deblock-clipart")})
        for p in paths
    ]
    if not items:
        raise InputError(f"suite deblock-clipart: no clip*.jpg in '{corrupted}'")
    return items


def _clipart_load(item: Item, profile: Profile) -> Sample:
    observation = centre_crop(_read(item.files["observation"]), profile.crop)
    truth = centre_crop(_read_rgba_composite(item.files["truth"]), profile.crop)
    return Sample(item.name, {"observation": observation}, truth)


def _single(relative: dict[str, str], suite: str, name: str) -> Callable[[Path], list[Item]]:
    def items(root: Path) -> list[Item]:
        return [Item(name, {key: _file(root / rel, suite) for key, rel in relative.items()})]

    return items


def _kate_load(item: Item, profile: Profile) -> Sample:
    from deepprior.io import read_mask

    full = _read(item.files["image"])
    image = centre_crop(full, profile.crop)
    known = centre_crop(read_mask(item.files["mask"], full.shape), profile.crop)
    return Sample(item.name, {"observation": (image * known[..., None]).astype(np.float32), "mask": known}, None)


def _flash_load(item: Item, profile: Profile) -> Sample:
    flash = centre_crop(_read(item.files["flash"]), profile.crop)
    noflash = centre_crop(_read(item.files["observation"]), profile.crop)
    return Sample(item.name, {"observation": noflash, "flash": flash}, None)


def _snail_load(item: Item, profile: Profile) -> Sample:
    return Sample(item.name, {"observation": centre_crop(_read(item.files["observation"]), profile.crop)}, None)


# --------------------------------------------------------------------------- suites


@dataclass(frozen=True)
class Suite:
    """A benchmark: data, task, methods, metric and the papers' figures.

    ``paper`` maps a method to its per-image PSNR figures; ``paper_mean`` a method to the paper's mean PSNR over
    the suite; ``paper_other`` lists figures of methods that are not run here (label → mean PSNR).
    ``paper_comparable`` is False when the paper's figures are on other images (NKS: the held-back test split);
    ``paper_source`` is the caption the reports print. All of them come from ``benchmarks/paper_figures.json``.
    """

    name: str
    title: str
    task: str
    items: Callable[[Path], list[Item]]
    load: Callable[[Item, Profile], Sample]
    methods: tuple[str, ...]
    default_methods: tuple[str, ...]
    metric: str | None = "rgb"
    paper: dict[str, dict[str, float]] = field(default_factory=dict)
    paper_mean: dict[str, float] = field(default_factory=dict)
    paper_ssim_mean: dict[str, float] = field(default_factory=dict)
    paper_other: dict[str, float] = field(default_factory=dict)
    paper_comparable: bool = True
    paper_source: str = ""
    notes: tuple[str, ...] = ()
    quick_limit: int | None = None
    source: str = ""

    @property
    def has_truth(self) -> bool:
        return self.metric is not None


@functools.cache
def paper_figures() -> dict[str, Any]:
    """The tables of ``benchmarks/paper_figures.json`` by suite name (each with its citation)."""
    try:
        return json.loads(PAPER_FIGURES.read_text(encoding="utf-8"))["tables"]
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"cannot read the papers' figures '{PAPER_FIGURES}': {exc}") from None


def _paper(suite: str) -> dict[str, Any]:
    """The :class:`Suite` fields of the papers' figures of ``suite``."""
    table = paper_figures()[suite]
    return {
        "paper": table.get("psnr_per_image", {}),
        "paper_mean": table.get("psnr_mean", {}),
        "paper_ssim_mean": table.get("ssim_mean", {}),
        "paper_other": table.get("not_run_here", {}),
        "paper_comparable": bool(table.get("comparable", True)),
        "paper_source": table.get("caption", ""),
    }


_DIP_VARIANTS = ("dip", "dip-tv", "two-stage-tv")
# the library as a user runs it, one method per preset profile (see deepprior.presets.PROFILES)
_DIP_PRESETS = ("dip@paper", "dip@fast", "dip@best")
_DIP_L0_PRESETS = ("dip-l0@paper", "dip-l0@fast", "dip-l0@best")
# the input and the classical denoisers every suite with noise-like damage scores
_DENOISERS = ("input", "tv-chambolle", "nl-means", "bm3d")
# OpenCV contrib's edge-preserving smoothers (the bench extra), beside the ℓ0 solvers on smoothing
_OPENCV_SMOOTHERS = ("cv-l0-smooth", "cv-fgs", "cv-guided")

SUITES: Registry[Suite] = Registry("benchmark suite")


def _register(suite: Suite) -> Suite:
    return SUITES.register(suite.name)(suite)


_register(
    Suite(
        "denoise-color25",
        "Colour denoising, σ = 25 (9 images, the paper's noisy inputs)",
        "denoise",
        _denoise_items,
        _denoise_load,
        methods=(*_DIP_VARIANTS, "dip-l0", *_DENOISERS, "zs-n2n", "bm3d-ours", *_DIP_PRESETS, "deepinv-dip"),
        default_methods=(*_DIP_VARIANTS, *_DENOISERS),
        **_paper("denoise-color25"),
        notes=(
            (
                "The paper's DIP figures are its published images; its text gives 29.22 dB for one plain run, 30.43 dB "
                "with averaging and 31.00 dB averaging two runs."
            ),
            (
                "The paper's NLM and CBM3D are the authors' implementations (30.23, 31.42 dB); here NL-means is "
                "scikit-image's and BM3D the optional `bm3d` package, both given σ = 25/255."
            ),
        ),
        source=DENOISE_DIR,
    )
)
_SR_NOTES = (
    (
        "LR input: the ground truth centre-cropped to a multiple of 32, PIL Lanczos downscaling; scoring: "
        "Y' = (219·Y + 16)/255 after cropping 4 px top/left and 5 px bottom/right."
    ),
    (
        "`bicubic` is PIL bicubic upscaling of this Lanczos LR input, which scores about 0.2–0.3 dB above the paper's "
        "bicubic column; that column matches a bicubic-downscaled LR (PIL bicubic down + up: 28.42 Set5 ×4, "
        "24.39 Set5 ×8)."
    ),
)

_register(
    Suite(
        "sr-set5-x4",
        "Super-resolution ×4, Set5 (Y-channel PSNR)",
        "super-resolve",
        _sr_items("dip/project_page/SR/Set5/x4", "sr-set5-x4"),
        _sr_load(4),
        methods=(*_DIP_VARIANTS, "bicubic", *_DIP_PRESETS),
        default_methods=("dip", "dip-tv", "bicubic"),
        metric="y-sr",
        **_paper("sr-set5-x4"),
        notes=_SR_NOTES,
        source="dip/project_page/SR/Set5/x4",
    )
)
_register(
    Suite(
        "sr-set14-x4",
        "Super-resolution ×4, Set14 (Y-channel PSNR)",
        "super-resolve",
        _sr_items("dip/project_page/SR/Set14/x4", "sr-set14-x4"),
        _sr_load(4),
        methods=(*_DIP_VARIANTS, "bicubic", *_DIP_PRESETS),
        default_methods=("dip", "dip-tv", "bicubic"),
        metric="y-sr",
        **_paper("sr-set14-x4"),
        notes=_SR_NOTES,
        quick_limit=6,
        source="dip/project_page/SR/Set14/x4",
    )
)
_register(
    Suite(
        "sr-set5-x8",
        "Super-resolution ×8, Set5 (Y-channel PSNR)",
        "super-resolve",
        _sr_items("dip/project_page/SR/Set5/x8", "sr-set5-x8"),
        _sr_load(8),
        methods=(*_DIP_VARIANTS, "bicubic", *_DIP_PRESETS),
        default_methods=("dip", "dip-tv", "bicubic"),
        metric="y-sr",
        **_paper("sr-set5-x8"),
        notes=(*_SR_NOTES, "Set14 ×8 has no ground truth in the data folder, so there is no sr-set14-x8 suite."),
        source="dip/project_page/SR/Set5/x8",
    )
)
_register(
    Suite(
        "deblur-gauss2",
        f"Deblurring, Gaussian PSF σ = 2 px, noise σ = {DEBLUR_SIGMA} (9 colour images)",
        "deblur",
        _deblur_items,
        _deblur_load,
        methods=(*_DIP_VARIANTS, "input", "richardson-lucy", "wiener", *_DIP_PRESETS),
        default_methods=("dip", "dip-tv", "input", "richardson-lucy", "wiener"),
        notes=(
            (
                "No paper of this family reports deblurring: the DIP rows use the denoising row's loop. Inputs: the "
                f"denoising suite's ground truths, blurred by {DEBLUR_PSF} (mirrored borders), plus noise of σ = "
                f"{DEBLUR_SIGMA} (seeded by the image's name), rounded to 8 bits, then cropped."
            ),
            (
                "Classical peers, given the true PSF: scikit-image's Richardson-Lucy (30 iterations, its default) "
                "and its self-tuning Wiener filter (unsupervised_wiener), each channel apart."
            ),
        ),
        source=DENOISE_DIR,
    )
)
_register(
    Suite(
        "inpaint-50p",
        "Reconstruction from 50% of the pixels (11 gray images)",
        "inpaint-pixels",
        _inpaint50_items,
        _inpaint50_load,
        methods=(*_DIP_VARIANTS, "biharmonic", *_DIP_PRESETS),
        default_methods=("dip", "dip-tv", "biharmonic"),
        **_paper("inpaint-50p"),
        notes=("Inputs: the published *_masked.png; mask = (pixel == 0) marks a missing pixel.",),
        source=INPAINT_DIR,
    )
)
_register(
    Suite(
        "smooth-nks",
        "Edge-preserving smoothing, NKS validation split (80 images)",
        "smooth",
        _nks_items,
        _nks_load,
        methods=(*_DIP_VARIANTS, "dip-l0", "input", "region-fusion", "l0-smooth", *_OPENCV_SMOOTHERS, *_DIP_L0_PRESETS),
        default_methods=(*_DIP_VARIANTS, "dip-l0", "input", "region-fusion", "l0-smooth"),
        **_paper("smooth-nks"),
        notes=(
            (
                "The paper's figures are on the 120-image test split, which is not in the data folder: the paper "
                "profile shows them for orientation only, without a difference."
            ),
            (
                "S11's ground truth is missing from the release: S11_* images are scored against "
                "gt/S11_reconstructed.png, an estimate (median of input − texture; 43–49 dB leave-one-out)."
            ),
            "Classical baselines: Region Fusion λ = 0.03, L0 smoothing λ = 0.01 (the tuned values, REFERENCE §3).",
        ),
        quick_limit=8,
        source=NKS_DIR,
    )
)
_register(
    Suite(
        "deblock-clipart",
        "JPEG artifact removal, clip art (10 images)",
        "deblock",
        _clipart_items,
        _clipart_load,
        methods=(*_DIP_VARIANTS, "dip-l0", *_DENOISERS, "region-fusion", *_DIP_PRESETS, *_DIP_L0_PRESETS),
        default_methods=(*_DIP_VARIANTS, "dip-l0", *_DENOISERS),
        **_paper("deblock-clipart"),
        notes=("Ground truth: the RGBA clip{i}.png composited on black (RGB·alpha), as the JPEGs were made.",),
        quick_limit=6,
        source=CLIPART_DIR,
    )
)
_register(
    Suite(
        "inpaint-kate",
        "Text inpainting, kate (no ground truth: images only)",
        "inpaint-text",
        _single({"image": "dip/inpainting/kate.png", "mask": "dip/inpainting/kate_mask.png"}, "inpaint-kate", "kate"),
        _kate_load,
        methods=(*_DIP_VARIANTS, "biharmonic"),
        default_methods=("dip", "biharmonic"),
        metric=None,
        source="dip/inpainting",
    )
)
_register(
    Suite(
        "flash-noflash",
        "Flash / no-flash fusion, cave01 (no ground truth: images only)",
        "flash-noflash",
        _single(
            {
                "flash": "dip/flash_no_flash/cave01_00_flash.jpg",
                "observation": "dip/flash_no_flash/cave01_01_noflash.jpg",
            },
            "flash-noflash",
            "cave01",
        ),
        _flash_load,
        methods=("dip",),
        default_methods=("dip",),
        metric=None,
        source="dip/flash_no_flash",
    )
)
_register(
    Suite(
        "deblock-snail",
        "Blind JPEG artifact removal, snail (no ground truth: images only)",
        "deblock",
        _single({"observation": "dip/denoising/snail.jpg"}, "deblock-snail", "snail"),
        _snail_load,
        methods=(*_DIP_VARIANTS, "dip-l0", "tv-chambolle", "nl-means", "bm3d"),
        default_methods=("dip", "tv-chambolle", "nl-means", "bm3d"),
        metric=None,
        source="dip/denoising",
    )
)


def select_items(items: list[Item], limit: int | None) -> list[Item]:
    """The first image and then evenly spaced ones, ``limit`` in all (all of them when ``limit`` is None/0)."""
    if not limit or limit >= len(items):
        return list(items)
    if limit == 1:
        return items[:1]
    picks = sorted({round(i * (len(items) - 1) / (limit - 1)) for i in range(limit)})
    return [items[i] for i in picks]


__all__ = [
    "PROFILES",
    "CROPS_LABEL",
    "QUICK_LABEL",
    "SUITES",
    "Item",
    "Profile",
    "Sample",
    "Suite",
    "bicubic_upscale",
    "crop_to_multiple",
    "lanczos_downscale",
    "nks_folders",
    "paper_figures",
    "quantize",
    "score",
    "select_items",
]
