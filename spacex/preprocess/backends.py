"""68-point landmark backends behind one interface: image-space 3D landmarks (T, 68, 3) for a clip.

- `groundtruth`: the SynthTalk sidecar (exact; also the reference the other backends are measured against).
- `dlib`: dlib's HOG face detector + 68-point shape predictor (weights in the face-recognition-models wheel),
  2D; depth from a weak-perspective fit of the mean 3D shape (`pose.lift_to_3d`).
- `face_alignment`: face-alignment's 3D FAN + depth net (the paper-like choice). Its weights come from the
  cache (`spacex weights`); when absent it stops and says which files and how to fetch them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spacex.preprocess.detect import FaceTrack, SkipClip


@dataclass
class ClipInput:
    clip_id: str
    root: Path  # corpus root
    frames: np.ndarray  # (T, H, W, 3) uint8
    track: FaceTrack


class LandmarkBackend:
    name = "base"

    def __call__(self, clip: ClipInput) -> np.ndarray:  # (T, 68, 3)
        raise NotImplementedError


class GroundTruthBackend(LandmarkBackend):
    name = "groundtruth"

    def __call__(self, clip: ClipInput) -> np.ndarray:
        from spacex.corpus import clip as clipfmt

        gt_path = clipfmt.clip_paths(clip.root, clip.clip_id)["gt"]
        if not gt_path.exists():
            raise SkipClip("no ground-truth sidecar (backend groundtruth works on SynthTalk only)")
        lms = clipfmt.read_groundtruth(clip.root, clip.clip_id)["landmarks"].astype(np.float64)
        if len(lms) != len(clip.frames):
            raise SkipClip(f"ground truth has {len(lms)} frames, video {len(clip.frames)}")
        return lms


class DlibBackend(LandmarkBackend):
    """Per frame: HOG detection inside the clip's crop box (upsampled so faces are >= ~80 px), the rect that
    best overlaps MTCNN's face box, then the 68-point predictor. Frames where HOG finds nothing reuse the
    previous rect moved with MTCNN's box."""

    name = "dlib"

    def __init__(self) -> None:
        from spacex.dlib_face import dlib_models

        self.detector, self.predictor = dlib_models()

    def __call__(self, clip: ClipInput) -> np.ndarray:
        import dlib

        frames, track = clip.frames, clip.track
        H, W = frames.shape[1:3]
        x0, y0 = int(max(0, np.floor(track.box[0]))), int(max(0, np.floor(track.box[1])))
        x1, y1 = int(min(W, np.ceil(track.box[2]))), int(min(H, np.ceil(track.box[3])))
        upsample = int(np.clip(np.ceil(np.log2(80 / max(track.face_size, 1))), 0, 2))
        out = np.zeros((len(frames), 68, 2))
        prev_rect, prev_face, misses = None, None, 0
        for t, frame in enumerate(frames):
            crop = np.ascontiguousarray(frame[y0:y1, x0:x1])
            face = track.face_boxes[t] - [x0, y0, x0, y0]
            rects, _, _ = self.detector.run(crop, upsample, 0.0)
            if rects:
                ious = [_iou(np.array([r.left(), r.top(), r.right(), r.bottom()], float), face) for r in rects]
                r = rects[int(np.argmax(ious))]
                rect = np.array([r.left(), r.top(), r.right(), r.bottom()], float)
            elif prev_rect is not None:
                misses += 1
                shift = ((face[:2] + face[2:]) - (prev_face[:2] + prev_face[2:])) / 2
                rect = prev_rect + np.r_[shift, shift]
            else:
                misses += 1
                rect = _rect_from_mtcnn(face)
            prev_rect, prev_face = rect, face
            shape = self.predictor(crop, dlib.rectangle(*[int(round(v)) for v in rect]))
            out[t] = [(p.x + x0, p.y + y0) for p in shape.parts()]
        if misses > 0.5 * len(frames):
            raise SkipClip(f"dlib found no face on {misses} of {len(frames)} frames")
        from spacex.preprocess.pose import lift_to_3d

        return lift_to_3d(out)


class FaceAlignmentBackend(LandmarkBackend):
    """face-alignment's 3D FAN, with weights loaded by us with weights_only=True (the library itself
    unpickles the depth checkpoint), and MTCNN's boxes instead of its own detector (no detector weights)."""

    name = "face_alignment"
    SFD_REFERENCE_SCALE = 195.0  # face-alignment's scale convention for detector boxes

    def __init__(self, device: str = "cpu", batch: int = 16, nets=None) -> None:
        """`nets`: (FAN, ResNetDepth) modules to use instead of the cached weights (tests build random ones)."""
        import types

        import torch
        from face_alignment import FaceAlignment, LandmarksType

        fan, depth = nets or self._load_weights()
        fa = FaceAlignment.__new__(FaceAlignment)  # skip __init__: it would load weights with pickle
        fa.device, fa.dtype, fa.flip_input, fa.verbose = device, torch.float32, True, False
        fa.landmarks_type, fa.max_batch_size = LandmarksType.THREE_D, 1
        fa.face_alignment_net, fa.depth_prediciton_net = fan.to(device).eval(), depth.to(device).eval()
        fa.face_detector = types.SimpleNamespace(reference_scale=self.SFD_REFERENCE_SCALE)
        self.fa, self.batch = fa, batch

    @staticmethod
    def _load_weights():
        import torch
        from face_alignment.models import FAN, ResNetDepth

        from spacex import weights

        missing = []
        paths = {}
        for name in ("fan3d", "fan_depth"):
            try:
                paths[name] = weights.require(name)
            except weights.MissingWeights as e:
                missing.append(str(e))
        if missing:
            raise weights.MissingWeights("landmark backend face_alignment cannot start:\n\n" + "\n\n".join(missing))
        fan = FAN(4)
        fan.load_state_dict(torch.load(paths["fan3d"], map_location="cpu", weights_only=True))
        depth = ResNetDepth()
        ckpt = torch.load(paths["fan_depth"], map_location="cpu", weights_only=True)
        depth.load_state_dict({k.replace("module.", ""): v for k, v in ckpt["state_dict"].items()})
        return fan, depth

    def __call__(self, clip: ClipInput) -> np.ndarray:
        """FAN and the depth net on `batch` frames at a time (face-alignment's own call takes one image):
        per frame, face-alignment's crop of the MTCNN box; then its heatmap decoding and depth scale."""
        import torch
        from face_alignment.api import CENTER_Y_OFFSET, CROP_RESOLUTION, SCALE_FACTOR
        from face_alignment.utils import crop, draw_gaussian, flip, get_preds_fromhm

        fa, dev = self.fa, self.fa.device
        boxes = clip.track.face_boxes  # (T, 4)
        centre = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2,
                           (boxes[:, 1] + boxes[:, 3]) / 2 - (boxes[:, 3] - boxes[:, 1]) * CENTER_Y_OFFSET], 1)
        scale = (boxes[:, 2] - boxes[:, 0] + boxes[:, 3] - boxes[:, 1]) / self.SFD_REFERENCE_SCALE  # (T,)
        out = np.zeros((len(clip.frames), 68, 3))
        with torch.no_grad():
            for t0 in range(0, len(clip.frames), self.batch):
                ts = range(t0, min(t0 + self.batch, len(clip.frames)))
                x = torch.from_numpy(np.stack([crop(clip.frames[t], centre[t], scale[t]).transpose(2, 0, 1)
                                               for t in ts]).astype(np.float32) / 255.0).to(dev)  # (B, 3, 256, 256)
                hm = fa.face_alignment_net(x)[-1]
                if fa.flip_input:
                    hm = hm + flip(fa.face_alignment_net(flip(x))[-1], is_label=True)
                hm = hm.float().cpu().numpy()  # (B, 68, 64, 64)
                gauss = np.zeros((len(ts), 68, CROP_RESOLUTION, CROP_RESOLUTION), np.float32)
                for i, t in enumerate(ts):
                    pts, pts_img, _ = get_preds_fromhm(hm[i:i + 1], centre[t], scale[t])
                    pts, out[t, :, :2] = pts.reshape(68, 2) * 4, pts_img.reshape(68, 2)
                    for j in np.flatnonzero((pts[:, 0] > 0) & (pts[:, 1] > 0)):
                        gauss[i, j] = draw_gaussian(gauss[i, j], pts[j], 2)
                depth = fa.depth_prediciton_net(torch.cat([x, torch.from_numpy(gauss).to(dev)], 1))  # (B, 68)
                out[t0:t0 + len(ts), :, 2] = depth.float().cpu().numpy().reshape(len(ts), 68) \
                    * (SCALE_FACTOR * scale[list(ts), None] / CROP_RESOLUTION)
        if not np.isfinite(out).all():
            raise SkipClip("face_alignment returned no landmarks on some frames")
        out[..., 2] -= out[:, [0, 16], 2].mean(1, keepdims=True)
        return out


BACKENDS = {b.name: b for b in (GroundTruthBackend, DlibBackend, FaceAlignmentBackend)}


def make_backend(name: str, device: str = "cpu", batch: int = 16) -> LandmarkBackend:
    """The backend `name`; FAN runs on `device` (a resolved torch device string), `batch` frames at a time.
    dlib and the ground truth have no GPU path (dlib-bin is a CPU build)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown landmark backend {name!r} (choose from {sorted(BACKENDS)})")
    return FaceAlignmentBackend(device, batch) if name == FaceAlignmentBackend.name else BACKENDS[name]()


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _rect_from_mtcnn(face: np.ndarray) -> np.ndarray:
    """A dlib-style rect from an MTCNN box: dlib's boxes are a little smaller and sit lower."""
    cx, cy = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2
    side = 0.85 * max(face[2] - face[0], face[3] - face[1])
    cy += 0.08 * side
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])
