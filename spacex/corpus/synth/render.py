"""Rendering SynthTalk frames: a real portrait warped to posed landmarks, with a drawn mouth interior.

A portrait is any photo with one face; its 68 landmarks come from dlib's real 68-point predictor (weights
inside the face-recognition-models wheel). Each frame is a piecewise-affine warp of the
portrait from its own landmarks to the frame's posed landmarks, plus forehead anchors that move rigidly
with the head and fixed image-border anchors. Where the lips part, a dark cavity and teeth are painted.
By construction the frame's ground-truth 2D landmarks are exactly the posed landmarks.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates
from scipy.spatial import Delaunay
from skimage import color, draw, transform

from spacex import landmarks as lm
from spacex import media
from spacex.dlib_face import PortraitError, detect_landmarks_dlib

# Forehead anchors in normalized space, relative to brow points 17, 19, 21, 22, 24, 26: they keep the upper
# head rigid instead of letting the brows drag it.
_FOREHEAD_FROM = [17, 19, 21, 22, 24, 26]
_FOREHEAD_OFFSET = np.array([0.0, -0.28, 0.04])




@dataclass
class Portrait:
    name: str
    image: np.ndarray  # (H, W, 3) float in [0, 1], square crop around the face
    landmarks: np.ndarray  # (68, 2) pixel coordinates in `image`


def load_portrait(image: np.ndarray, name: str, resolution: int, margin: float = 2.3) -> Portrait:
    """Crop a square of side `margin` x ear distance around the face and resize it to `resolution`."""
    if image.ndim == 2:
        image = np.stack([image] * 3, -1)
    image = image[..., :3]
    if image.dtype != np.uint8:
        image = (np.clip(image, 0, 1) * 255).astype(np.uint8) if image.max() <= 1 else image.astype(np.uint8)
    pts = detect_landmarks_dlib(image)
    ears = np.linalg.norm(pts[16] - pts[0])
    centre = (pts[0] + pts[16]) / 2 + np.array([0.0, 0.22 * ears])
    half = margin * ears / 2
    # Crop with a similarity transform (handles crops that leave the image: edge pixels repeat).
    s = resolution / (2 * half)
    tf = transform.SimilarityTransform(scale=s, translation=-(centre - half) * s)
    crop = transform.warp(image, tf.inverse, output_shape=(resolution, resolution), mode="edge")
    return Portrait(name=name, image=crop, landmarks=tf(pts))


def default_portraits(resolution: int, folder: str | Path | None = None) -> list[Portrait]:
    """skimage's astronaut, plus every image in `folder` that has a face (others are skipped with a note)."""
    from skimage import data

    portraits = [load_portrait(data.astronaut(), "astronaut", resolution)]
    if folder:
        for p in sorted(Path(folder).iterdir()):
            if p.suffix.lower() not in (".jpg", ".jpeg", ".png", ".bmp", ".webp"):
                continue
            try:
                portraits.append(load_portrait(media.read_image(p), p.stem, resolution))
            except (PortraitError, OSError, ValueError) as e:
                print(f"[synth] portrait {p.name} skipped: {e}")
    return portraits


@dataclass
class Appearance:
    """A per-identity variant of a portrait: mirror, colour shift."""

    portrait: Portrait
    flip: bool
    hue: float
    saturation: float
    value: float

    def source(self) -> tuple[np.ndarray, np.ndarray]:
        """The identity's source image (H, W, 3) float and its 68 landmarks (68, 2)."""
        img, pts = self.portrait.image, self.portrait.landmarks.copy()
        if self.flip:
            img = img[:, ::-1]
            pts[:, 0] = img.shape[1] - 1 - pts[:, 0]
            pts = pts[lm.MIRROR]
        hsv = color.rgb2hsv(img)
        hsv[..., 0] = (hsv[..., 0] + self.hue) % 1.0
        hsv[..., 1] = np.clip(hsv[..., 1] * self.saturation, 0, 1)
        hsv[..., 2] = np.clip(hsv[..., 2] * self.value, 0, 1)
        return color.hsv2rgb(hsv), pts


def random_appearance(portrait: Portrait, rng: np.random.Generator, vary: bool) -> Appearance:
    if not vary:
        return Appearance(portrait, False, 0.0, 1.0, 1.0)
    return Appearance(portrait, bool(rng.random() < 0.5), float(rng.normal(0, 0.02)),
                      float(rng.uniform(0.8, 1.2)), float(rng.uniform(0.85, 1.1)))


def forehead_points(norm: np.ndarray) -> np.ndarray:
    """(..., 68, 3) -> (..., 6, 3) anchors above the brows."""
    return norm[..., _FOREHEAD_FROM, :] + _FOREHEAD_OFFSET


def _border(h: int, w: int, n: int = 5) -> np.ndarray:
    xs, ys = np.linspace(0, w - 1, n), np.linspace(0, h - 1, n)
    pts = [(x, 0) for x in xs] + [(x, h - 1) for x in xs] + [(0, y) for y in ys[1:-1]] + [(w - 1, y) for y in ys[1:-1]]
    return np.array(pts, np.float64)


def piecewise_affine_warp(image: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Warp `image` so that points `src` (N, 2) land on `dst` (N, 2), affine inside each Delaunay triangle of dst.

    Same mapping as skimage's PiecewiseAffineTransform + warp, but O(pixels) rather than O(triangles x
    pixels): each output pixel finds its triangle once and takes barycentric weights (about 20x faster
    at 128 px, which is what keeps corpus generation within minutes).
    """
    h, w = image.shape[:2]
    tri = Delaunay(dst)
    yy, xx = np.mgrid[0:h, 0:w]
    pix = np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float64)  # (H*W, 2) as (x, y)
    simplex = tri.find_simplex(pix)
    inside = simplex >= 0
    simplex = np.where(inside, simplex, 0)
    T = tri.transform[simplex]  # (P, 3, 2): barycentric transform per pixel's triangle
    b = np.einsum("pij,pj->pi", T[:, :2], pix - T[:, 2])  # (P, 2)
    bary = np.concatenate([b, 1 - b.sum(1, keepdims=True)], 1)  # (P, 3)
    corners = src[tri.simplices[simplex]]  # (P, 3, 2)
    where = np.einsum("pk,pkd->pd", bary, corners)  # (P, 2) source (x, y)
    where[~inside] = pix[~inside]  # outside the hull (never, with border anchors): identity
    coords = [where[:, 1].reshape(h, w), where[:, 0].reshape(h, w)]
    return np.stack([map_coordinates(image[..., c], coords, order=1, mode="nearest") for c in range(image.shape[2])], -1)


def _mask(shape: tuple[int, int], polygon: np.ndarray, supersample: int = 4) -> np.ndarray:
    """Anti-aliased coverage (H, W) in [0, 1] of a polygon (N, 2) given as (x, y) pixel coordinates."""
    big = draw.polygon2mask((shape[0] * supersample, shape[1] * supersample),
                            ((polygon + 0.5) * supersample - 0.5)[:, ::-1])
    return big.reshape(shape[0], supersample, shape[1], supersample).mean((1, 3))


def eye_colours(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(iris, sclera) RGB of a portrait: the darkest and brightest fifth of the pixels inside its eye outlines."""
    inside = np.zeros(image.shape[:2], bool)
    for e in (lm.EYE_R, lm.EYE_L):
        inside |= _mask(image.shape[:2], landmarks[e]) > 0.5
    px = image[inside]  # (N, 3)
    if len(px) < 2:  # eyes too small to sample: a dark brown iris on an off-white sclera
        return np.array([0.25, 0.15, 0.1]), np.array([0.88, 0.86, 0.82])
    order = np.argsort(px.mean(1))
    k = max(1, len(px) // 5)
    return px[order[:k]].mean(0), np.clip(px[order[-k:]].mean(0) * 1.1, 0, 1)


class Renderer:
    """Warps one identity's source image to per-frame posed landmarks and draws its eyes' irises."""

    def __init__(self, source: np.ndarray, source_landmarks: np.ndarray, source_forehead: np.ndarray):
        self.source = source  # (H, W, 3) float
        h, w = source.shape[:2]
        self.border = _border(h, w)
        self.src_pts = np.concatenate([source_landmarks, source_forehead, self.border])  # (68 + 6 + 16, 2)
        self.iris_rgb, self.sclera_rgb = eye_colours(source, source_landmarks)

    def render(self, posed: np.ndarray, posed_forehead: np.ndarray, iris: np.ndarray | None = None) -> np.ndarray:
        """posed (68, 2) and forehead (6, 2) pixel targets, iris centres (2, 2) -> (H, W, 3) uint8 frame.

        With `iris`, each eye's opening is repainted: sclera, then an iris disc with a pupil at the given
        centre, cut by the lids (so a blink hides it and a gaze shift moves it)."""
        h, w = self.source.shape[:2]
        dst = np.concatenate([posed, posed_forehead, self.border]).copy()
        # Inner lips that touch would give duplicate vertices: keep them 0.25 px apart.
        for up, lo in ((61, 67), (62, 66), (63, 65)):
            dst[lo, 1] = max(dst[lo, 1], dst[up, 1] + 0.25)
        frame = piecewise_affine_warp(self.source, self.src_pts, dst)
        frame = self._paint_mouth(frame, dst[:68])
        if iris is not None:
            frame = self._paint_eyes(frame, dst[:68], iris)
        return (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)

    def _paint_eyes(self, frame: np.ndarray, pts: np.ndarray, iris: np.ndarray) -> np.ndarray:
        from spacex.gaze import IRIS_RADIUS

        h, w = frame.shape[:2]
        frame = frame.copy()
        for e, centre in zip((lm.EYE_R, lm.EYE_L), iris):
            eye = pts[e]
            # Work in the eye's bounding box (+2 px): the opening is a few dozen pixels of the frame.
            x0, y0 = np.maximum(np.floor(eye.min(0)).astype(int) - 2, 0)
            x1, y1 = np.minimum(np.ceil(eye.max(0)).astype(int) + 3, [w, h])
            if x1 <= x0 or y1 <= y0:
                continue
            opening = _mask((y1 - y0, x1 - x0), eye - [x0, y0])[..., None]  # (h, w, 1)
            if opening.max() == 0:
                continue
            yy, xx = np.mgrid[y0:y1, x0:x1] + 0.0
            r = IRIS_RADIUS * np.linalg.norm(eye[3] - eye[0])
            d = np.hypot(xx - centre[0], yy - centre[1])[..., None]
            disc = np.clip(r + 0.5 - d, 0, 1)  # anti-aliased iris
            pupil = np.clip(0.45 * r + 0.5 - d, 0, 1)
            # The upper lid shades the top of the opening a little.
            shade = 1 - 0.25 * np.clip(1 - (yy - eye[:, 1].min()) / max(1.0, np.ptp(eye[:, 1])), 0, 1)[..., None]
            colour = self.sclera_rgb * (1 - disc) + self.iris_rgb * disc
            colour = (colour * (1 - pupil) + 0.05 * pupil) * shade
            box = frame[y0:y1, x0:x1]
            frame[y0:y1, x0:x1] = box * (1 - opening) + colour * opening
        return frame

    @staticmethod
    def _paint_mouth(frame: np.ndarray, pts: np.ndarray) -> np.ndarray:
        gap = np.linalg.norm(pts[66] - pts[62])
        if gap < 0.6:
            return frame
        shape = frame.shape[:2]
        inner = pts[lm.LIPS_INNER]
        cavity = draw.polygon2mask(shape, inner[:, ::-1]).astype(float)
        upper = pts[[60, 61, 62, 63, 64]]
        lower = pts[[64, 65, 66, 67, 60]]
        mouth_w = np.linalg.norm(pts[64] - pts[60])
        t_up = min(0.45 * gap, 0.09 * mouth_w)
        t_lo = min(0.2 * gap, 0.05 * mouth_w)
        teeth_up = draw.polygon2mask(shape, np.concatenate([upper, upper[::-1] + [0, t_up]])[:, ::-1])
        teeth_lo = draw.polygon2mask(shape, np.concatenate([lower, lower[::-1] - [0, t_lo]])[:, ::-1])
        teeth = (teeth_up | teeth_lo).astype(float) * cavity
        cavity = gaussian_filter(cavity, 0.6)[..., None]
        teeth = gaussian_filter(teeth, 0.6)[..., None]
        dark = np.array([0.22, 0.07, 0.08])
        white = np.array([0.86, 0.84, 0.78])
        frame = frame * (1 - cavity) + dark * cavity
        return frame * (1 - teeth) + white * teeth
