"""Side-by-side intermediates video: what each stage predicted, frame by frame, with the speech.

    [ normalized landmarks | posed landmarks and irises (gaze) on the photo | driving keypoints | rendered frame ]

Panels are `size` pixels square (the rendered frame is upscaled to match). Frames are read back from the
rendered mp4 one at a time, so this works for streamed clips of any length.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage.transform import resize

from spacex import media
from spacex.crop import crop_frames, to_crop_pixels
from spacex.viz import draw_points

PANELS = ("normalized landmarks", "posed landmarks", "keypoints", "output")


def side_by_side(result, video: str | Path, photo: np.ndarray, box: np.ndarray, out: str | Path,
                 size: int = 256) -> Path:
    """result: an AnimateResult (its landmark/keypoint arrays), video: its rendered mp4, photo (H, W, 3) and the
    face crop box (x0, y0, x1, y1) in photo pixels -> an mp4 of the four panels with the result's audio."""
    crop = crop_frames(photo[None], box, size)[0].permute(1, 2, 0).numpy()  # (size, size, 3)
    iris = result.iris() if result.gaze is not None else None  # (T, 2, 2) photo pixels

    def frames():
        for t, (_, frame) in enumerate(media.iter_frames(video)):
            if t >= len(result.keypoints):
                break
            norm = np.full((size, size, 3), 255, np.uint8)
            draw_points(norm, result.normalized_landmarks[t] * size * 0.7 + [size / 2, size * 0.3, 0], (200, 30, 30))
            posed = draw_points(crop.copy(), to_crop_pixels(result.posed_landmarks[t], box, size), (30, 200, 60))
            if iris is not None:
                draw_points(posed, to_crop_pixels(iris[t], box, size), (40, 90, 255), radius=2)
            kp = np.full((size, size, 3), 40, np.uint8)
            draw_points(kp, (result.keypoints[t] + 1) / 2 * size, (250, 200, 40), radius=3)
            rendered = (resize(frame, (size, size), order=1) * 255).astype(np.uint8)
            yield np.concatenate([norm, posed, kp, rendered], 1)  # (size, 4 * size, 3)

    n = len(result.keypoints)
    return media.write_video(out, frames(), result.fps, result.audio48(n), 48_000)

