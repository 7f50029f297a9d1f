"""Every number the evaluation writes, in one place: name, direction, unit, whether it is per clip, and the
external weights it needs. Scoring (per_clip.csv columns, the means), the report (column order, arrows, bold
best values) and the scorecard read this list; nothing else names the metrics.

Definitions: eval/README.md ("Metrics").
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    better: str  # "higher" | "lower" | "" (descriptive: compare with the ground-truth row)
    unit: str
    per_clip: bool = True  # False: pooled over all clips (FID)
    weights: str | None = None  # spacex.weights registry name it needs; None: none
    in_table: bool = True  # False: a per-clip count kept in per_clip.csv only


REGISTRY: tuple[Metric, ...] = (  # table order
    Metric("psnr", "higher", "dB"),
    Metric("ssim", "higher", ""),
    Metric("lpips", "lower", "", weights="alexnet"),
    Metric("fid", "lower", "", per_clip=False, weights="inception_fid"),
    Metric("cpbd", "higher", ""),
    Metric("lmd_mouth", "lower", "crop px"),
    Metric("lmd_face", "lower", "crop px"),
    Metric("landmarks_missing", "", "frames", in_table=False),
    Metric("lse_d", "lower", "", weights="syncnet_v2"),
    Metric("lse_c", "higher", "", weights="syncnet_v2"),
    Metric("av_offset_syncnet", "", "frames", weights="syncnet_v2"),
    Metric("av_corr", "higher", ""),
    Metric("av_conf", "higher", ""),
    Metric("av_offset", "", "frames"),
    Metric("blink_rate", "", "1/min"),
    Metric("blink_depth", "", ""),  # eyes closing where the ground truth blinks (needs the corpus's eye-closure track)
    Metric("yaw_std", "", "deg"),
    Metric("pitch_std", "", "deg"),
    Metric("roll_std", "", "deg"),
    Metric("angular_speed", "", "deg/s"),
    Metric("pose_error", "", "deg"),  # vs the ground truth's head pose: low only where the pose is transferred
    Metric("jitter", "lower", "IOD/s^2"),
)
BY_NAME = {m.name: m for m in REGISTRY}

TABLE = tuple(m.name for m in REGISTRY if m.in_table)  # the report's columns, in order
PER_CLIP = tuple(m.name for m in REGISTRY if m.per_clip)  # per_clip.csv's metric columns, in order
HIGHER = frozenset(m.name for m in REGISTRY if m.better == "higher")
LOWER = frozenset(m.name for m in REGISTRY if m.better == "lower")


def needing(weights: str) -> list[str]:
    """The metrics that cannot be computed without this weight file."""
    return [m.name for m in REGISTRY if m.weights == weights]
