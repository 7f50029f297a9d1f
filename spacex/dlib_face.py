"""dlib's HOG face detector and 68-point shape predictor (weights inside the face-recognition-models wheel), loaded
once per process; used by the dlib landmark backend, the SynthTalk portraits and the landmark metrics."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from spacex.errors import KitError


class PortraitError(KitError, ValueError):
    """A photo without a usable face."""


@lru_cache(maxsize=1)
def dlib_models():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # face_recognition_models imports the deprecated pkg_resources
        import dlib
        import face_recognition_models

    return dlib.get_frontal_face_detector(), dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())


def detect_landmarks_dlib(image: np.ndarray) -> np.ndarray:
    """68 landmarks (68, 2) of the most confident face in an RGB uint8 image (dlib HOG + 68-pt predictor)."""
    detector, predictor = dlib_models()
    rects, scores, _ = detector.run(np.ascontiguousarray(image), 1, 0.0)
    if not rects:
        raise PortraitError("no face found")
    best = int(np.argmax(scores))
    shape = predictor(np.ascontiguousarray(image), rects[best])
    return np.array([[p.x, p.y] for p in shape.parts()], np.float64)
