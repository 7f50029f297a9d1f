"""Small drawing helpers for sample and intermediates videos (skimage.draw: fast enough per frame)."""
from __future__ import annotations

import numpy as np
from skimage import draw


def draw_points(canvas: np.ndarray, xy: np.ndarray, colour: tuple[int, int, int], radius: float = 1.6) -> np.ndarray:
    """Dots at (N, >=2) pixel positions on an (H, W, 3) uint8 image, in place; points off the image are clipped."""
    for x, y in xy[:, :2]:
        if np.isfinite(x) and np.isfinite(y):
            rr, cc = draw.disk((y, x), radius, shape=canvas.shape[:2])
            canvas[rr, cc] = colour
    return canvas
