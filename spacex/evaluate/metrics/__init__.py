"""Metrics of the evaluation suite (definitions and quirks: eval/README.md).

    image.py       psnr, ssim (numpy/skimage); LPIPSMetric, FIDMetric (torch; weights via spacex.weights)
    sharpness.py   cpbd, cpbd_video (no-reference sharpness)
    landmarks.py   detect_landmarks (dlib 68-pt), lmd, blink_rate, blink_depth, pose_stats, jitter

Importing this package does not import torch or dlib; the classes and detector load them when built or run.
"""
from spacex.evaluate.metrics.image import FIDMetric, LPIPSMetric, frechet_distance, psnr, psnr_frames, ssim, ssim_frames
from spacex.evaluate.metrics.landmarks import Detected, blink_depth, blink_rate, detect_landmarks, jitter, lmd, pose_stats
from spacex.evaluate.metrics.sharpness import cpbd, cpbd_video

__all__ = ["FIDMetric", "LPIPSMetric", "frechet_distance", "psnr", "psnr_frames", "ssim", "ssim_frames",
           "Detected", "blink_depth", "blink_rate", "detect_landmarks", "jitter", "lmd", "pose_stats", "cpbd", "cpbd_video"]
