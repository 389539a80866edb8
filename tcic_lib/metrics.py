"""Quality and rate-comparison measures, each from its library where one exists.

Taught in notebooks/02_hyperprior (PSNR, BD-rate) and notebooks/07_evaluation.
"""

from __future__ import annotations

import hashlib
import logging
import warnings

import numpy as np
import torch

log = logging.getLogger(__name__)


def psnr(x_hat: torch.Tensor, x: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, per image of a (B, C, H, W) batch (or one (C, H, W) image)."""
    if x_hat.shape != x.shape:
        raise ValueError(f"shape mismatch: {tuple(x_hat.shape)} vs {tuple(x.shape)}")
    batched = x.dim() == 4
    diff = (x_hat.float() - x.float()).reshape(x.shape[0] if batched else 1, -1)
    mse = diff.pow(2).mean(dim=1).clamp_min(1e-12)
    out = 10 * torch.log10(data_range**2 / mse)
    return out if batched else out[0]


def _sorted_curve(rate, dist) -> tuple[np.ndarray, np.ndarray]:
    rate, dist = np.asarray(rate, dtype=float), np.asarray(dist, dtype=float)
    if rate.shape != dist.shape or rate.ndim != 1 or len(rate) < 2:
        raise ValueError("a rate-distortion curve needs matching 1-D arrays of at least 2 points")
    if np.any(rate <= 0):
        raise ValueError("rates must be positive (BD metrics work in log-rate)")
    order = np.argsort(rate)
    return rate[order], dist[order]


def bd_rate(rate_anchor, psnr_anchor, rate_test, psnr_test) -> float:
    """Bjøntegaard delta rate (%) of `test` against `anchor`: negative means fewer bits at equal PSNR.

    Uses the bjontegaard package (piecewise cubic, as in current JVET practice). Warns when the
    curves' PSNR ranges barely overlap, where a BD-rate is an extrapolation.
    """
    return _bjontegaard("bd_rate", rate_anchor, psnr_anchor, rate_test, psnr_test)


def bd_psnr(rate_anchor, psnr_anchor, rate_test, psnr_test) -> float:
    """Bjøntegaard delta PSNR (dB) of `test` against `anchor`: positive means better at equal rate."""
    return _bjontegaard("bd_psnr", rate_anchor, psnr_anchor, rate_test, psnr_test)


def _bjontegaard(name: str, rate_anchor, psnr_anchor, rate_test, psnr_test) -> float:
    """One BD metric by the bjontegaard package; NaN with a warning where it is undefined, never a crash."""
    import bjontegaard

    ra, da = _sorted_curve(rate_anchor, psnr_anchor)
    rt, dt = _sorted_curve(rate_test, psnr_test)
    what = "BD-rate" if name == "bd_rate" else "BD-PSNR"
    if not all(np.all(np.diff(d) > 0) for d in (da, dt)):
        warnings.warn(f"{what} undefined: a curve's PSNR does not rise with its rate", stacklevel=3)
        return float("nan")
    if not all(np.all(np.diff(r) > 0) for r in (ra, rt)):
        warnings.warn(f"{what} undefined: two points of a curve have the same rate", stacklevel=3)
        return float("nan")
    if name == "bd_rate":
        _warn_if_unreliable(da, dt, "PSNR", what)
    else:
        _warn_if_unreliable(np.log(ra), np.log(rt), "log-rate", what)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(getattr(bjontegaard, name)(ra, da, rt, dt, method="pchip", require_matching_points=False,
                                                 min_overlap=0))
    if not np.isfinite(value):
        warnings.warn(f"{what} undefined: the curves do not overlap", stacklevel=3)
    return value


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of the narrower range that the two ranges share."""
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    narrower = min(np.ptp(a), np.ptp(b))
    return 0.0 if narrower <= 0 else max(0.0, hi - lo) / narrower


def _warn_if_unreliable(a: np.ndarray, b: np.ndarray, axis: str, what: str) -> None:
    shared = overlap(a, b)
    if 0 < shared < 0.5:  # none shared: the value is undefined (NaN), and says so below
        warnings.warn(f"curves share only {shared:.0%} of their {axis} range: the {what} value rests on that part only",
                      stacklevel=3)
    if min(np.ptp(a), np.ptp(b)) < 0.5 and axis == "PSNR":
        warnings.warn("a curve spans under 0.5 dB: small PSNR offsets become huge BD-rates; read BD-PSNR",
                      stacklevel=3)


# --- perceptual and semantic metrics -------------------------------------------------------------
# Each is built once by `QualityMetrics`; one whose weights or package are missing is listed in
# `unavailable` with the reason, never swapped silently for something else under its name.

LPIPS_MIN_SIDE = 32  # AlexNet's pooling stack needs this; smaller images are upsampled first


def ms_ssim(x_hat: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, str]:
    """MS-SSIM per image (pytorch_msssim) and its label.

    Five scales with an 11-tap window need a side over 160 px; smaller images keep the five
    scales with a smaller window (7, 5 or 3 taps, over 96 / 64 / 32 px) and say so in the label.
    At 32 px and below only single-scale SSIM is defined, and the label says that instead.
    """
    from pytorch_msssim import ms_ssim as _ms_ssim, ssim as _ssim

    side = min(x.shape[-2:])
    win = next((w for w in (11, 7, 5, 3) if side > (w - 1) * 16), None)
    if win is None:
        return _ssim(x_hat, x, data_range=1.0, size_average=False, win_size=min(11, side - (side + 1) % 2)), \
            "SSIM (too small for MS-SSIM)"
    value = _ms_ssim(x_hat, x, data_range=1.0, size_average=False, win_size=win)
    return value, "MS-SSIM" if win == 11 else f"MS-SSIM ({win}-tap window)"


class Unavailable(RuntimeError):
    """A metric that cannot be computed here (missing weights or package); the message says why."""


def lpips_model(net: str = "alex"):
    """LPIPS with pretrained AlexNet when its weights are in the torch hub cache, else labelled uncalibrated.

    Returns (model, label). The linear heads ship with the lpips package; only the backbone's
    ImageNet weights may be missing offline.
    """
    import lpips

    from .pretrained import ALEXNET_FILE, torch_hub_checkpoint

    calibrated = net == "alex" and torch_hub_checkpoint(ALEXNET_FILE) is not None
    with warnings.catch_warnings(), torch.random.fork_rng():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)  # the random backbone is the same in every run, so scores repeat
        model = lpips.LPIPS(net=net, pnet_rand=not calibrated, verbose=False).eval()
    label = "LPIPS" if calibrated else "LPIPS (uncalibrated: random AlexNet, weights missing)"
    return model.requires_grad_(False), label


def lpips_distance(model, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """LPIPS per image for [0, 1] inputs (the model wants [-1, 1])."""
    if min(x.shape[-2:]) < LPIPS_MIN_SIDE:
        scale = LPIPS_MIN_SIDE / min(x.shape[-2:])
        x_hat, x = (torch.nn.functional.interpolate(t, scale_factor=scale, mode="bilinear") for t in (x_hat, x))
    return model(x_hat * 2 - 1, x * 2 - 1).flatten()


def patches(images: torch.Tensor, size: int) -> torch.Tensor:
    """Non-overlapping size x size patches plus a grid shifted by size/2 (HiFiC's FID protocol)."""
    grids = [images, images[..., size // 2:, size // 2:]]
    out = []
    for grid in grids:
        h, w = (grid.shape[-2] // size) * size, (grid.shape[-1] // size) * size
        if h and w:
            tiles = grid[..., :h, :w].unfold(2, size, size).unfold(3, size, size)  # B, C, nh, nw, size, size
            out.append(tiles.permute(0, 2, 3, 1, 4, 5).reshape(-1, images.shape[1], size, size))
    return torch.cat(out)


def patch_size_for(side: int, standard: int = 256) -> int:
    """256 px as in HiFiC / MS-ILLM for images of at least twice that; a smaller image is one patch (tiling a
    64 px scene into 32 px patches, each resized to the feature network's input, adds cost, not information)."""
    return standard if side >= 2 * standard else side


class FeatureExtractor(torch.nn.Module):
    """[0, 1] images -> feature vectors, with a `name` that goes into the metric's label."""

    def __init__(self, fn, num_features: int, name: str):
        super().__init__()
        self.fn, self.num_features, self.name = fn, num_features, name

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.fn(images.float()).float()


def inception_features() -> FeatureExtractor:
    """torchmetrics' FID Inception-v3 when its weights are on disk and torch-fidelity is installed."""
    from .pretrained import INCEPTION_FILE, torch_hub_checkpoint

    path = torch_hub_checkpoint(INCEPTION_FILE)
    if path is None:
        raise Unavailable(f"Inception weights {INCEPTION_FILE} not in the torch hub cache")
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3
        net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(path))
    except (ImportError, ModuleNotFoundError, RuntimeError) as err:
        raise Unavailable(f"Inception feature extractor: {err}") from err
    to_uint8 = lambda images: net((images.clamp(0, 1) * 255).to(torch.uint8)).reshape(len(images), -1)  # noqa: E731
    return FeatureExtractor(to_uint8, 2048, "Inception-v3")


def clip_image_features(encoder) -> FeatureExtractor:
    """A CLIP image tower as FID/KID features (FID_CLIP, Kynkäänniemi et al. 2023): not comparable to Inception FID."""
    dim = encoder.encode_image(torch.zeros(1, 3, 32, 32)).shape[-1]
    return FeatureExtractor(encoder.encode_image, dim, f"{encoder.name} image features")


class SetMetrics:
    """FID and KID (torchmetrics) of image sets against one set of real images, on patches (any sizes).

    The real images' features are computed once (`reset_real_features=False`): every codec is then
    compared with them at the cost of its own images only. Patch statistics need many patches: with
    fewer than the feature width, FID's covariance is rank-deficient and its value is dominated by
    noise (notebook 07 shows it).
    """

    def __init__(self, real: list[torch.Tensor], features: FeatureExtractor, patch: int | None = None,
                 device: torch.device | str = "cpu"):
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.image.kid import KernelInceptionDistance

        self.features, self.device = features, torch.device(device)
        self.patch = patch or patch_size_for(min(min(x.shape[-2:]) for x in real))
        real_p = torch.cat([patches(x[None], self.patch) for x in real]).to(self.device)
        self.n = len(real_p)
        self.fid = FrechetInceptionDistance(feature=features, normalize=True, reset_real_features=False,
                                            input_img_size=(3, self.patch, self.patch)).to(self.device)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*save all extracted features.*")
            # subsets of half the patches (at most 100): a subset of all of them would repeat one value 20 times
            self.kid = KernelInceptionDistance(feature=features, normalize=True, subset_size=max(2, min(self.n // 2, 100)),
                                               subsets=20, reset_real_features=False).to(self.device)
        for start in range(0, self.n, FEATURE_BATCH):
            for metric in (self.fid, self.kid):
                metric.update(real_p[start:start + FEATURE_BATCH], real=True)

    def __call__(self, fake: list[torch.Tensor]) -> dict:
        fake_p = torch.cat([patches(x[None], self.patch) for x in fake]).to(self.device)
        for metric in (self.fid, self.kid):
            metric.reset()  # the fakes of the previous call; the real features stay
            for start in range(0, len(fake_p), FEATURE_BATCH):
                metric.update(fake_p[start:start + FEATURE_BATCH], real=False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # KID's random subsets
            kid_mean, kid_std = self.kid.compute()
        return {"fid": float(self.fid.compute()), "kid": float(kid_mean), "kid_std": float(kid_std), "patches": self.n,
                "patch_size": self.patch, "features": self.features.name}


FEATURE_BATCH = 64  # patches per call of the feature network


def fid_kid(real: list[torch.Tensor], fake: list[torch.Tensor], features: FeatureExtractor,
            patch: int | None = None) -> dict:
    """FID and KID between the patches of two image sets, with the features' name (`SetMetrics`, once)."""
    return SetMetrics(real, features, patch)(fake)


# Hand-crafted full-reference metrics (piq): no learned weights, so they work offline.
# name -> (piq function, label, smallest image side they are defined for)
HANDCRAFTED = {
    "ssim": ("ssim", "SSIM", 11), "vif": ("vif_p", "VIF (pixel)", 41), "fsim": ("fsim", "FSIM", 11),
    "gmsd": ("gmsd", "GMSD", 11), "ms_gmsd": ("multi_scale_gmsd", "MS-GMSD", 24), "haarpsi": ("haarpsi", "HaarPSI", 16),
    "mdsi": ("mdsi", "MDSI", 11), "vsi": ("vsi", "VSI", 11), "srsim": ("srsim", "SR-SIM", 41), "dss": ("dss", "DSS", 11),
}
# Which way is better, for every metric the course reports.
LOWER_IS_BETTER = {"lpips", "gmsd", "ms_gmsd", "mdsi", "dists", "niqe", "fid", "kid"}


def direction(metric: str) -> str:
    """"lower" or "higher": which way a metric's values are better."""
    return "lower" if metric in LOWER_IS_BETTER else "higher"


class QualityMetrics:
    """Per-image full-reference metrics under honest names, plus set-level FID/KID.

    - `psnr`, `ms_ssim` (pytorch_msssim), `lpips` (lpips package; uncalibrated offline);
    - ten hand-crafted metrics from piq (`HANDCRAFTED`), each where the image is large enough;
    - `clip_caption`, `clip_image` (semantic distortion): cosine similarity of the reconstruction's
      CLIP image embedding to its caption's text embedding and to the original's, with the text
      encoder given. It must not be one the evaluated codecs read (`codec_encoders`): a decoder
      trained on an encoder's features is judged by that encoder in a circle;
    - `dists` and no-reference scores through pyiqa when it and its weights are present.

    `labels` names each available metric as reported; `unavailable` gives the reason for each
    other; `direction(name)` says which way is better.
    """

    def __init__(self, encoder=None, fid_features: FeatureExtractor | None = None, use_pyiqa: bool = True,
                 codec_encoders: tuple[str, ...] = (), device: torch.device | str | None = None):
        from .config import device as default_device

        self.device = torch.device(device) if device is not None else default_device()
        if encoder is not None and encoder.key in codec_encoders:
            raise ValueError(f"{encoder.name} is the text encoder the codecs read: judging them with it is circular; "
                             "use another (zoo.text_encoder('judge', profile), or pretrained CLIP)")
        self.encoder = encoder
        self._set_metrics: tuple[bytes, SetMetrics] | None = None  # FID/KID with the real images' features
        self.labels = {"psnr": "PSNR (dB)", "ms_ssim": "MS-SSIM"}
        self.labels |= {name: label for name, (_, label, _) in HANDCRAFTED.items()}
        self.unavailable: dict[str, str] = {}
        self._lpips, self.labels["lpips"] = lpips_model()
        self._lpips.to(self.device)
        if encoder is None:
            self.unavailable["clip_caption"] = self.unavailable["clip_image"] = "no text encoder given"
        else:
            self.labels["clip_caption"] = f"caption similarity ({encoder.name})"
            self.labels["clip_image"] = f"image similarity ({encoder.name})"
        self.fid_features = fid_features or self._default_fid_features()
        self._pyiqa = self._pyiqa_metrics() if use_pyiqa else {}

    def _default_fid_features(self) -> FeatureExtractor | None:
        try:
            return inception_features()
        except Unavailable as err:
            if self.encoder is None:
                self.unavailable["fid"] = self.unavailable["kid"] = f"{err}, and no CLIP encoder to substitute"
                return None
            log.info("FID/KID: %s; using %s image features instead", err, self.encoder.name)
            return clip_image_features(self.encoder)

    def _pyiqa_metrics(self) -> dict:
        found = {}
        for name in ("dists", "niqe"):
            try:
                import pyiqa

                found[name] = pyiqa.create_metric(name, device=self.device)
                self.labels[name] = f"{name.upper()} (pyiqa)"
            except ImportError:
                self.unavailable[name] = "pyiqa is not installed (pip install pyiqa; it downloads its weights)"
            except Exception as err:  # noqa: BLE001  pyiqa raises many kinds when its weights cannot be fetched
                self.unavailable[name] = f"pyiqa could not load its weights: {str(err).splitlines()[0][:120]}"
        return found

    @torch.no_grad()
    def per_image(self, x_hat: torch.Tensor, x: torch.Tensor, captions: list[str] | None = None) -> list[dict]:
        """One dict of metric values per image of the (B, 3, H, W) batch (computed on `self.device`)."""
        x_hat, x = x_hat.to(self.device).clamp(0, 1).float(), x.to(self.device).float()
        values = {"psnr": psnr(x_hat, x), "lpips": lpips_distance(self._lpips, x_hat, x)}
        values["ms_ssim"], self.labels["ms_ssim"] = ms_ssim(x_hat, x)
        values |= self._handcrafted(x_hat, x)
        if self.encoder is not None:
            rec = torch.nn.functional.normalize(self.encoder.encode_image(x_hat), dim=-1)
            orig = torch.nn.functional.normalize(self.encoder.encode_image(x), dim=-1)  # the encoder embeds each once
            values["clip_image"] = (rec * orig).sum(-1)
            if captions is not None:
                text = torch.nn.functional.normalize(self.encoder.encode(list(captions))[1].to(rec.device), dim=-1)
                values["clip_caption"] = (rec * text).sum(-1)
        for name, metric in self._pyiqa.items():
            values[name] = metric(x_hat, x).flatten() if name == "dists" else metric(x_hat).flatten()
        return [{k: float(v[i]) for k, v in values.items()} for i in range(len(x))]

    def _handcrafted(self, x_hat: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
        import piq

        side, found = min(x.shape[-2:]), {}
        for name, (function, label, smallest) in HANDCRAFTED.items():
            if side < smallest:
                self.unavailable[name] = f"{label} needs images of at least {smallest} px a side (these: {side})"
                found[name] = torch.full((len(x),), float("nan"), device=x.device)
            else:
                found[name] = getattr(piq, function)(x_hat, x, data_range=1.0, reduction="none").flatten()
        return found

    def set_level(self, reals: list[torch.Tensor], fakes: list[torch.Tensor]) -> dict:
        """FID/KID on patches of the whole set ({} with the reason in `unavailable` when no features); the
        features of the same `reals` are computed once across calls."""
        if self.fid_features is None:
            return {}
        key = hashlib.sha1(b"".join(x.cpu().numpy().tobytes() for x in reals)).digest()
        if self._set_metrics is None or self._set_metrics[0] != key:
            self._set_metrics = (key, SetMetrics(reals, self.fid_features, device=self.device))
        result = self._set_metrics[1](fakes)
        self.labels["fid"] = f"FID ({result['features']}, {result['patch_size']} px patches)"
        self.labels["kid"] = f"KID ({result['features']}, {result['patch_size']} px patches)"
        return result
