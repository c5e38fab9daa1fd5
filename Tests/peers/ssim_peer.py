#!/usr/bin/env python3
"""Scores image pairs with scikit-image's structural_similarity, for Tests/AtelierImagingTests/SSIMScikitImageTests.

Usage: ssim_peer.py PAIRS.json   where PAIRS.json is [{"a": path, "b": path}, ...] (PNG, JPEG or WebP files).
Prints {"scores": [...], "versions": {...}} on stdout. Exits 3 when numpy or scikit-image is missing.

Independently of Atelier's Swift code, each file is decoded (imageio/Pillow), turned into BT.601 luma
(0.299 R + 0.587 G + 0.114 B, alpha over white, not rounded) and both images are brought to the smaller width and
height with skimage.transform.downscale_local_mean (whole-number factors only: the test's pairs are chosen so).
Then structural_similarity with Wang et al.'s parameters: Gaussian window σ = 1.5 (11×11), K1 0.01, K2 0.03,
data range 255, population covariance.
"""
import json
import sys

try:
    import numpy as np
    import skimage
    from skimage import io
    from skimage.metrics import structural_similarity
    from skimage.transform import downscale_local_mean
except ImportError as error:
    print(f"scikit-image is not installed ({error}): pip install -r scripts/requirements-test.txt", file=sys.stderr)
    sys.exit(3)


def luma(path):
    image = io.imread(path).astype(np.float64)
    if image.ndim == 2:
        return image
    rgb = image[..., :3]
    if image.shape[2] == 4:
        alpha = image[..., 3:4] / 255.0
        rgb = rgb * alpha + 255.0 * (1.0 - alpha)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def to_size(plane, height, width):
    fy, fx = plane.shape[0] // height, plane.shape[1] // width
    if fy * height != plane.shape[0] or fx * width != plane.shape[1]:
        raise SystemExit(f"{plane.shape} is not a whole multiple of {(height, width)}")
    return plane if (fy, fx) == (1, 1) else downscale_local_mean(plane, (fy, fx))


def score(pair):
    a, b = luma(pair["a"]), luma(pair["b"])
    height, width = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    a, b = to_size(a, height, width), to_size(b, height, width)
    return float(structural_similarity(
        a, b, data_range=255.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, K1=0.01, K2=0.03))


def main():
    with open(sys.argv[1]) as f:
        pairs = json.load(f)
    print(json.dumps({
        "scores": [score(p) for p in pairs],
        "versions": {"scikit-image": skimage.__version__, "numpy": np.__version__},
    }))


if __name__ == "__main__":
    main()
