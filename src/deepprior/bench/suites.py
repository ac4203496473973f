"""Benchmark suites: which images, how the degraded inputs are made, how outputs are scored, and the papers' figures.

A suite is one row of :data:`SUITES`. Its ``items`` function lists the images of a data folder (cheap: paths only);
``load`` reads one image and prepares the degraded input(s) and the ground truth for a :class:`Profile`.
The data are not part of the installed package: they are read from ``--data-dir``, ``$DEEPPRIOR_DATA`` or
``../shared/data`` relative to the current folder (see :func:`resolve_data_dir`).

This module imports only numpy and Pillow at import time, so ``deepprior --help`` stays fast.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

QUICK_LABEL = "QUICK PROFILE — not a reproduction"
DATA_ENV = "DEEPPRIOR_DATA"
DEFAULT_DATA = Path("..") / "shared" / "data"


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

    def with_overrides(self, *, crop: int | None = None, iterations: int | None = None,
                       channels: int | None = None) -> Profile:
        """A copy with some values replaced (only the quick profile takes overrides)."""
        if crop is None and iterations is None and channels is None:
            return self
        if self.comparable:
            raise InputError(f"--crop, --iterations and --channels change the {self.name} profile; they are only "
                             "accepted with --profile quick")
        sr_crop = self.sr_crop
        if crop is not None:
            sr_crop = max(64, -(-crop // 32) * 32)  # crop rounded up to a multiple of 32
        crop = crop if crop is not None else self.crop
        iterations = iterations if iterations is not None else self.iterations
        channels = channels if channels is not None else self.channels
        return Profile(self.name, crop, sr_crop, iterations, channels, self.label,
                       _quick_description(crop, sr_crop, iterations, channels))


def _quick_description(crop: int | None, sr_crop: int | None, iterations: int | None, channels: int | None) -> str:
    return (f"smoke test: {crop}×{crop} centre crops (SR: {sr_crop}×{sr_crop} ground-truth crops), skip net with "
            f"{channels} channels, {iterations} DIP steps; minutes on a CPU")


PROFILES: dict[str, Profile] = {
    "quick": Profile("quick", crop=96, sr_crop=128, iterations=200, channels=32, label=QUICK_LABEL,
                     description=_quick_description(96, 128, 200, 32)),
    "paper": Profile("paper", description="the papers' settings on the full images (task presets); needs an "
                                          "accelerator"),
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
    from ..io import read_image

    return read_image(path).pixels


def _read_rgba_composite(path: Path) -> np.ndarray:
    """RGB·alpha (composited on black), as the clip-art JPEGs were made; plain RGB if there is no alpha."""
    from ..io import read_image

    image = read_image(path)
    if image.alpha is None:
        return image.pixels
    return (image.pixels * image.alpha[..., None]).astype(np.float32)


def centre_box(height: int, width: int, new_h: int, new_w: int) -> tuple[int, int]:
    """Top-left corner of a centred (new_h, new_w) box, rounding down as the DIP code does."""
    return (height - new_h) // 2, (width - new_w) // 2


def centre_crop(array: np.ndarray, size: int | None) -> np.ndarray:
    """Centre crop to size×size (each side is kept whole when it is already smaller); None: unchanged."""
    if size is None:
        return array
    h, w = array.shape[:2]
    new_h, new_w = min(h, size), min(w, size)
    top, left = centre_box(h, w, new_h, new_w)
    return array[top:top + new_h, left:left + new_w]


def crop_to_multiple(array: np.ndarray, multiple: int) -> np.ndarray:
    """Centre crop so that both sides are multiples of ``multiple`` (the DIP SR protocol uses 32)."""
    h, w = array.shape[:2]
    new_h, new_w = h - h % multiple, w - w % multiple
    if new_h == 0 or new_w == 0:
        raise InputError(f"an image of {w}×{h} pixels is smaller than {multiple} pixels")
    top, left = centre_box(h, w, new_h, new_w)
    return array[top:top + new_h, left:left + new_w]


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
    from ..metrics import psnr, psnr_y_sr, rgb_to_y, sr_crop, ssim

    if output.shape != truth.shape:
        raise InputError(f"the output is {output.shape} but the ground truth is {truth.shape}")
    if metric == "rgb":
        return psnr(output, truth), ssim(output, truth)
    if metric == "y-sr":
        return psnr_y_sr(output, truth), ssim(sr_crop(rgb_to_y(output)), sr_crop(rgb_to_y(truth)))
    raise InputError(f"unknown metric {metric!r}")


# --------------------------------------------------------------------------- data folder


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The benchmark data folder: ``data_dir``, else ``$DEEPPRIOR_DATA``, else ``../shared/data`` from the cwd."""
    if data_dir is not None:
        path, source = Path(data_dir), "--data-dir"
    elif os.environ.get(DATA_ENV):
        path, source = Path(os.environ[DATA_ENV]), f"${DATA_ENV}"
    else:
        path, source = Path.cwd() / DEFAULT_DATA, "the default ../shared/data"
    path = path.expanduser()
    if not path.is_dir():
        raise InputError(f"benchmark data folder '{path}' ({source}) does not exist; pass --data-dir DIR or set "
                         f"{DATA_ENV}=DIR")
    return path.resolve()


def _folder(root: Path, relative: str, suite: str) -> Path:
    path = root / relative
    if not path.is_dir():
        raise InputError(f"suite {suite}: folder '{path}' does not exist (is --data-dir / ${DATA_ENV} the shared "
                         f"data folder?)")
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
    return Sample(item.name, {"observation": centre_crop(noisy, profile.crop)}, centre_crop(truth, profile.crop),
                  {"sigma": 25 / 255})


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
    return Sample(item.name, {"observation": masked, "mask": known}, truth,
                  {"known_fraction": float(known.mean())})


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
    items = [Item(p.stem, {"observation": p, "truth": _file(folder / "gt" / f"{p.stem}.png", "deblock-clipart")})
             for p in paths]
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
    from ..io import read_mask

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
    ``paper_comparable`` is False when the paper's figures are on other images (NKS: the held-back test split).
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


_DENOISE_DIP = {"F16": 33.69, "baboon": 24.51, "hill": 32.09, "kodim01": 28.44, "kodim02": 32.71,
                "kodim03": 33.79, "kodim12": 32.68, "lena": 32.56, "peppers": 31.15}
_SET5_X4_DIP = {"baby": 31.49, "bird": 31.80, "butterfly": 26.23, "head": 31.04, "woman": 28.93}
_INPAINT50_DIP = {"barbara": 32.18, "boat": 33.04, "house": 39.00, "Lena512": 36.08, "peppers256": 33.06,
                  "Cameraman256": 29.80, "couple": 32.48, "fingerprint": 32.81, "hill": 32.73, "man": 32.17,
                  "montage": 34.49}

_DIP_VARIANTS = ("dip", "dip-tv", "two-stage-tv")

SUITES: dict[str, Suite] = {}


def _register(suite: Suite) -> None:
    SUITES[suite.name] = suite


_register(Suite(
    "denoise-color25", "Colour denoising, σ = 25 (9 images, the paper's noisy inputs)", "denoise",
    _denoise_items, _denoise_load,
    methods=(*_DIP_VARIANTS, "dip-l0", "input", "tv-chambolle", "nl-means", "bm3d"),
    default_methods=(*_DIP_VARIANTS, "input", "tv-chambolle", "nl-means", "bm3d"),
    paper={"dip": _DENOISE_DIP},
    paper_mean={"dip": 31.29, "input": 20.37, "nl-means": 30.23, "bm3d": 31.42},
    paper_source="DIP (Ulyanov et al. 2018); figures recomputed from the authors' published images (REFERENCE §1)",
    notes=("The paper's DIP figures are its published images; its text gives 29.22 dB for one plain run, 30.43 dB "
           "with averaging and 31.00 dB averaging two runs.",
           "The paper's NLM and CBM3D are the authors' implementations (30.23, 31.42 dB); here NL-means is "
           "scikit-image's and BM3D the optional `bm3d` package, both given σ = 25/255."),
    source=DENOISE_DIR,
))
_SR_NOTES = (
    "LR input: the ground truth centre-cropped to a multiple of 32, PIL Lanczos downscaling; scoring: "
    "Y' = (219·Y + 16)/255 after cropping 4 px top/left and 5 px bottom/right.",
    "`bicubic` is PIL bicubic upscaling of this Lanczos LR input, which scores about 0.2–0.3 dB above the paper's "
    "bicubic column; that column matches a bicubic-downscaled LR (PIL bicubic down + up: 28.42 Set5 ×4, "
    "24.39 Set5 ×8).",
)

_register(Suite(
    "sr-set5-x4", "Super-resolution ×4, Set5 (Y-channel PSNR)", "super-resolve",
    _sr_items("dip/project_page/SR/Set5/x4", "sr-set5-x4"), _sr_load(4),
    methods=(*_DIP_VARIANTS, "bicubic"), default_methods=("dip", "dip-tv", "bicubic"), metric="y-sr",
    paper={"dip": _SET5_X4_DIP}, paper_mean={"dip": 29.90, "bicubic": 28.44},
    paper_source="DIP (Ulyanov et al. 2018), Table 1; recomputed from the published images (REFERENCE §1)",
    notes=_SR_NOTES,
    source="dip/project_page/SR/Set5/x4",
))
_register(Suite(
    "sr-set14-x4", "Super-resolution ×4, Set14 (Y-channel PSNR)", "super-resolve",
    _sr_items("dip/project_page/SR/Set14/x4", "sr-set14-x4"), _sr_load(4),
    methods=(*_DIP_VARIANTS, "bicubic"), default_methods=("dip", "dip-tv", "bicubic"), metric="y-sr",
    paper_mean={"dip": 27.01, "bicubic": 26.05},
    paper_source="DIP (Ulyanov et al. 2018), Table 1 (means only)",
    notes=_SR_NOTES,
    quick_limit=6, source="dip/project_page/SR/Set14/x4",
))
_register(Suite(
    "sr-set5-x8", "Super-resolution ×8, Set5 (Y-channel PSNR)", "super-resolve",
    _sr_items("dip/project_page/SR/Set5/x8", "sr-set5-x8"), _sr_load(8),
    methods=(*_DIP_VARIANTS, "bicubic"), default_methods=("dip", "dip-tv", "bicubic"), metric="y-sr",
    paper_mean={"dip": 25.89, "bicubic": 24.37},
    paper_other={"Set14 ×8 DIP (no Set14 ×8 ground truth here)": 24.15, "Set14 ×8 bicubic": 23.10},
    paper_source="DIP (Ulyanov et al. 2018), Table 1 (means only)",
    notes=(*_SR_NOTES, "Set14 ×8 has no ground truth in the data folder, so there is no sr-set14-x8 suite."),
    source="dip/project_page/SR/Set5/x8",
))
_register(Suite(
    "inpaint-50p", "Reconstruction from 50% of the pixels (11 gray images)", "inpaint-pixels",
    _inpaint50_items, _inpaint50_load,
    methods=(*_DIP_VARIANTS, "biharmonic"), default_methods=("dip", "dip-tv", "biharmonic"),
    paper={"dip": _INPAINT50_DIP}, paper_mean={"dip": 33.44},
    paper_other={"Papyan et al. (convolutional sparse coding)": 31.16},
    paper_source="DIP (Ulyanov et al. 2018), Table 2 (REFERENCE §1)",
    notes=("Inputs: the published *_masked.png; mask = (pixel == 0) marks a missing pixel.",),
    source=INPAINT_DIR,
))
_register(Suite(
    "smooth-nks", "Edge-preserving smoothing, NKS validation split (80 images)", "smooth",
    _nks_items, _nks_load,
    methods=(*_DIP_VARIANTS, "dip-l0", "input", "region-fusion", "l0-smooth"),
    default_methods=(*_DIP_VARIANTS, "dip-l0", "input", "region-fusion", "l0-smooth"),
    paper_mean={"dip-l0": 34.9755, "input": 28.02, "region-fusion": 33.57, "l0-smooth": 33.20, "dip": 29.30,
                "dip-tv": 33.80},
    paper_ssim_mean={"dip-l0": 0.9641},
    paper_other={"PNLS": 33.86, "JESS-Net": 34.44, "GSF": 33.89},
    paper_comparable=False,
    paper_source="DIP-ℓ0 (Tran, Bui & Xin 2026): the NKS TEST split (120 images, held back), not these images",
    notes=("The paper's figures are on the 120-image test split, which is not in the data folder: the paper "
           "profile shows them for orientation only, without a difference.",
           "S11's ground truth is missing from the release: S11_* images are scored against "
           "gt/S11_reconstructed.png, an estimate (median of input − texture; 43–49 dB leave-one-out).",
           "Classical baselines: Region Fusion λ = 0.03, L0 smoothing λ = 0.01 (the tuned values, REFERENCE §3)."),
    quick_limit=8, source=NKS_DIR,
))
_register(Suite(
    "deblock-clipart", "JPEG artifact removal, clip art (10 images)", "deblock",
    _clipart_items, _clipart_load,
    methods=(*_DIP_VARIANTS, "dip-l0", "input", "tv-chambolle", "nl-means", "bm3d", "region-fusion"),
    default_methods=(*_DIP_VARIANTS, "dip-l0", "input", "tv-chambolle", "nl-means", "bm3d"),
    paper_mean={"dip-l0": 29.17, "input": 27.60},
    paper_source="DIP-ℓ0 (Tran, Bui & Xin 2026), clip-art table",
    notes=("Ground truth: the RGBA clip{i}.png composited on black (RGB·alpha), as the JPEGs were made.",),
    quick_limit=6, source=CLIPART_DIR,
))
_register(Suite(
    "inpaint-kate", "Text inpainting, kate (no ground truth: images only)", "inpaint-text",
    _single({"image": "dip/inpainting/kate.png", "mask": "dip/inpainting/kate_mask.png"}, "inpaint-kate", "kate"),
    _kate_load, methods=(*_DIP_VARIANTS, "biharmonic"), default_methods=("dip", "biharmonic"), metric=None,
    source="dip/inpainting",
))
_register(Suite(
    "flash-noflash", "Flash / no-flash fusion, cave01 (no ground truth: images only)", "flash-noflash",
    _single({"flash": "dip/flash_no_flash/cave01_00_flash.jpg",
             "observation": "dip/flash_no_flash/cave01_01_noflash.jpg"}, "flash-noflash", "cave01"),
    _flash_load, methods=("dip",), default_methods=("dip",), metric=None,
    source="dip/flash_no_flash",
))
_register(Suite(
    "deblock-snail", "Blind JPEG artifact removal, snail (no ground truth: images only)", "deblock",
    _single({"observation": "dip/denoising/snail.jpg"}, "deblock-snail", "snail"), _snail_load,
    methods=(*_DIP_VARIANTS, "dip-l0", "tv-chambolle", "nl-means", "bm3d"),
    default_methods=("dip", "tv-chambolle", "nl-means", "bm3d"), metric=None,
    source="dip/denoising",
))


def get_suite(name: str) -> Suite:
    try:
        return SUITES[name]
    except KeyError:
        raise InputError(f"unknown benchmark suite {name!r}; choose one of {', '.join(SUITES)} "
                         "(or 'list', 'report', 'all')") from None


def select_items(items: list[Item], limit: int | None) -> list[Item]:
    """The first image and then evenly spaced ones, ``limit`` in all (all of them when ``limit`` is None/0)."""
    if not limit or limit >= len(items):
        return list(items)
    if limit == 1:
        return items[:1]
    picks = sorted({round(i * (len(items) - 1) / (limit - 1)) for i in range(limit)})
    return [items[i] for i in picks]


__all__ = ["PROFILES", "Profile", "QUICK_LABEL", "SUITES", "Suite", "Sample", "Item", "get_suite", "score",
           "resolve_data_dir", "select_items", "quantize", "lanczos_downscale", "bicubic_upscale",
           "centre_crop", "crop_to_multiple", "nks_folders"]
