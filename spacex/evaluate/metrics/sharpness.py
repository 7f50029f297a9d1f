"""CPBD no-reference sharpness (Narvekar & Karam 2011): higher is sharper, in [0, 1].

Follows the reference implementation that published talking-head numbers come from (PyPI `cpbd` 1.0.7, a port
of the authors' MATLAB code), vectorized, so scores are comparable:
- grayscale: PIL's "L" conversion (ITU-R 601-2 luma, rounded to uint8), what the reference reads images as;
- edge blocks: 64x64 blocks (whole blocks only; the remainder at the right/bottom is ignored) with more than
  0.2% Canny edge pixels (skimage defaults on the 0-255 image, as in the reference);
- edge widths (Marziliano et al.): at vertical-Sobel edge pixels (threshold 2 sqrt(mean(G^2)) on G^2, then
  thinning to horizontal or vertical local maxima, as the port does), measured along the row to the local
  extrema on both sides, for edges whose gradient direction quantizes to 0 or 180 degrees;
- JNB width 5 if the block contrast (max - min gray) <= 50, else 3; P_blur = 1 - exp(-|w / w_JNB|^3.6);
- CPBD = fraction of measured edges with P_blur <= 0.63 (the reference's 101-bin histogram: round(100 P) <= 63).
Resolution changes CPBD: report it with the score.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import convolve
from skimage.feature import canny

BLOCK = 64
EDGE_FRACTION = 0.002
BETA = 3.6
MAX_STEPS = 100  # the reference stops walking towards an extremum after 100 further pixels
# Vertical-edge Sobel, normalized to sum |h| = 1 as the port does (scale matters: the threshold is not scale-free).
_SOBEL_V = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]) / 8.0


def to_gray(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float64 in 0..255 via PIL "L"; a 2D frame is taken as gray already."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        return frame.astype(np.float64)
    if frame.dtype != np.uint8 or frame.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {frame.shape} {frame.dtype}")
    from PIL import Image

    return np.asarray(Image.fromarray(frame).convert("L"), np.float64)


def sobel_edges(gray: np.ndarray) -> np.ndarray:
    """Thinned vertical-Sobel edge map (H, W) bool of a gray image."""
    g2 = convolve(gray, _SOBEL_V) ** 2  # squared horizontal gradient; scipy's default 'reflect' border as in the port
    g2[g2 <= 2 * np.sqrt(g2.mean())] = 0  # the port's threshold, verbatim
    pad = np.pad(g2, 1)  # zeros outside: a border pixel only has to beat its inner neighbour
    c = pad[1:-1, 1:-1]
    horizontal_max = (c > pad[1:-1, :-2]) & (c > pad[1:-1, 2:])
    vertical_max = (c > pad[:-2, 1:-1]) & (c > pad[2:, 1:-1])
    return horizontal_max | vertical_max


def _runs(mask: np.ndarray, reverse: bool) -> np.ndarray:
    """Per row, length of the run of True ending at each column (reverse: starting at it). (H, N) -> (H, N)."""
    out = np.zeros(mask.shape, np.int64)
    acc = np.zeros(mask.shape[0], np.int64)
    cols = range(mask.shape[1] - 1, -1, -1) if reverse else range(mask.shape[1])
    for c in cols:
        acc = (acc + 1) * mask[:, c]
        out[:, c] = acc
    return out


def edge_widths(gray: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Marziliano edge widths (H, W): 0 where no edge was measured, else the width in pixels.

    At an edge pixel (row r, column c) whose intensity rises left to right, the width is 1 + the number of
    strictly rising steps continuing left from c - 1, plus 1 + the number continuing right from c + 1 (each
    capped at 100), i.e. the distance between the local minimum on the left and the local maximum on the
    right; falling edges mirror this.
    """
    H, W = gray.shape
    gy, gx = np.gradient(gray)
    # Gradient direction; the reference leaves 0 where gx == 0 (so vertical gradients count as "rising"). It also
    # measures nothing when every angle is 0 (a bug that only synthetic images trigger), which is not copied.
    angle = np.where(gx != 0, np.degrees(np.arctan2(gy, gx)), 0.0)
    q = 45 * np.round(angle / 45)
    rising, falling = q == 0, np.abs(q) == 180

    d = np.diff(gray, axis=1)  # (H, W - 1): d[:, k] = I[:, k + 1] - I[:, k]
    zero = np.zeros((H, 1), np.int64)
    widths = np.zeros((H, W))
    for up, where in ((True, rising), (False, falling)):
        step = d > 0 if up else d < 0
        # Steps continuing left of c - 1 are d[:, c - 2], d[:, c - 3], ...; right of c + 1: d[:, c + 1], ...
        left = np.concatenate([zero, zero, _runs(step, reverse=False)[:, :-1]], 1)  # (H, W): run ending at c - 2
        right = np.concatenate([_runs(step, reverse=True)[:, 1:], zero, zero], 1)  # (H, W): run starting at c + 1
        w = 2 + np.minimum(left, MAX_STEPS) + np.minimum(right, MAX_STEPS)
        widths = np.where(where & edges, w, widths)
    widths[[0, -1], :] = 0  # the reference skips the outermost rows and columns
    widths[:, [0, -1]] = 0
    return widths


def cpbd(frame: np.ndarray) -> float:
    """CPBD of one frame: (H, W, 3) uint8 RGB (or (H, W) gray 0..255), at least 64x64. 0 when no edge blocks."""
    gray = to_gray(frame)
    H, W = gray.shape
    nby, nbx = H // BLOCK, W // BLOCK
    if nby == 0 or nbx == 0:
        raise ValueError(f"CPBD needs at least one {BLOCK}x{BLOCK} block, got a {H}x{W} frame")
    widths = edge_widths(gray, sobel_edges(gray))

    def blocks(a: np.ndarray) -> np.ndarray:  # (H, W) -> (nby * nbx, 64 * 64), whole blocks only
        a = a[:nby * BLOCK, :nbx * BLOCK].reshape(nby, BLOCK, nbx, BLOCK)
        return a.transpose(0, 2, 1, 3).reshape(nby * nbx, BLOCK * BLOCK)

    is_edge_block = blocks(canny(gray)).sum(1) > EDGE_FRACTION * BLOCK * BLOCK  # (B,)
    g = blocks(gray)
    jnb = np.where(g.max(1) - g.min(1) <= 50, 5.0, 3.0)  # contrast is an integer: gray is uint8-valued
    w = blocks(widths)  # (B, 4096)
    measured = (w > 0) & is_edge_block[:, None]
    p_blur = 1 - np.exp(-np.abs(w / jnb[:, None]) ** BETA)
    n = measured.sum()
    if n == 0:
        return 0.0  # the reference's value for a frame without measured edges
    return float((measured & (np.round(100 * p_blur) <= 63)).sum() / n)


def cpbd_video(frames: np.ndarray) -> float:
    """Mean CPBD over frames (T, H, W, 3) uint8."""
    return float(np.mean([cpbd(f) for f in frames]))
