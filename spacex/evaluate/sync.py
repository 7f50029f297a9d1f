"""Lip sync: SyncNet v2 LSE-D / LSE-C / AV offset (the Wav2Lip convention), and an offline score without weights.

SyncNet v2 (Chung & Zisserman, "Out of time", 2016), re-implemented from the architecture of the public
syncnet_python `S` model so that the official `syncnet_v2.model` loads into it unchanged. Scoring follows
syncnet_python's SyncNetInstance.evaluate step for step (shared/spec/EVALUATION.md):

- video: 5-frame windows of 224x224 face crops, BGR, raw 0-255 floats (no mean/std normalisation);
- audio: 13 MFCCs at 100 Hz from 16 kHz int16 PCM (`syncnet_mfcc`), 20 columns per window starting at 4t;
- distances for offsets -vshift..vshift with zero-padded ends (`offset_scores`);
- LSE-D = min over offsets of the mean distance, LSE-C = median - min, offset = the official `vshift - argmin`.

Offset sign (identical to syncnet_python, so published offsets compare): D[j] compares video window t with
audio window t + j - vshift, and offset = vshift - argmin_j D[j]. Positive offset: the audio is early (it
leads the video) by `offset` frames; delaying the audio by `offset` frames would bring it into sync.

Weights: `syncnet_v2.model` from the registry (`spacex weights fetch syncnet_v2`), verified by SHA-256.
The file is a plain state dict (name -> tensor: the official loader iterates `loaded_state.items()` and
copies each into `S().state_dict()`), so it loads with `torch.load(..., weights_only=True)`: evaluation
never unpickles arbitrary objects, and no conversion step exists or is needed.

Reference check (needs the weights and the syncnet example clip, not run by the tests): the example
clip gives offset 3, min dist 5.353, confidence 10.021.

`av_sync` is the offline score the embedded default reports: mouth opening from landmarks against the
audio energy envelope. It needs no external weights and is NOT comparable with published LSE numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FPS = 25  # SyncNet assumes 25 fps video ...
SAMPLE_RATE = 16_000  # ... and 16 kHz audio: 640 samples = 4 MFCC columns per video frame
MFCC_PER_FRAME = 4
WINDOW_FRAMES = 5  # frames per video window; 5 * 4 = 20 MFCC columns per audio window
CROP = 224  # video window side
EMBED_DIM = 1024


# ---------------------------------------------------------------------------------------------- network
def _conv_block(conv: nn.Module, bn: nn.Module, pool: nn.Module | None = None) -> list[nn.Module]:
    # conv -> BN -> ReLU [-> pool]: the index layout of the official nn.Sequential, which names the
    # state-dict keys (e.g. netcnnaud.4.weight), so no layer may be added, dropped or reordered.
    return [conv, bn, nn.ReLU(inplace=True)] + ([pool] if pool is not None else [])


def _fc_head(out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True), nn.Linear(512, out_dim))


class SyncNetV2(nn.Module):
    """The syncnet_python `S` model: parameter names and shapes match the official `syncnet_v2.model`.

    forward_aud: MFCC windows (B, 1, 13, 20) -> (B, 1024)
    forward_lip: BGR 0-255 video windows (B, 3, 5, 224, 224) -> (B, 1024)
    Embeddings are not normalised (LSE distances are Euclidean on the raw 1024-d vectors).
    """

    def __init__(self, embed_dim: int = EMBED_DIM):
        super().__init__()
        c2, b2, c3, b3 = nn.Conv2d, nn.BatchNorm2d, nn.Conv3d, nn.BatchNorm3d
        # Audio (B, 1, 13, 20) -> 13x20 -> pool 11x9 -> pool 5x4 -> (5,4) conv -> (B, 512, 1, 1).
        self.netcnnaud = nn.Sequential(
            *_conv_block(c2(1, 64, 3, padding=1), b2(64), nn.MaxPool2d(1, 1)),  # 1x1 pool: a no-op kept for indices
            *_conv_block(c2(64, 192, 3, padding=1), b2(192), nn.MaxPool2d(3, (1, 2))),
            *_conv_block(c2(192, 384, 3, padding=1), b2(384)),
            *_conv_block(c2(384, 256, 3, padding=1), b2(256)),
            *_conv_block(c2(256, 256, 3, padding=1), b2(256), nn.MaxPool2d(3, 2)),
            *_conv_block(c2(256, 512, (5, 4)), b2(512)),
        )
        self.netfcaud = _fc_head(embed_dim)
        self.netfclip = _fc_head(embed_dim)
        # Video (B, 3, 5, 224, 224) -> 1x109 -> pool 54 -> 26 -> pool 13 -> 13 -> pool 6 -> (1,6,6) conv -> 1x1x1.
        self.netcnnlip = nn.Sequential(
            *_conv_block(c3(3, 96, (5, 7, 7), (1, 2, 2)), b3(96), nn.MaxPool3d((1, 3, 3), (1, 2, 2))),
            *_conv_block(c3(96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)), b3(256),
                         nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))),
            *_conv_block(c3(256, 256, (1, 3, 3), padding=(0, 1, 1)), b3(256)),
            *_conv_block(c3(256, 256, (1, 3, 3), padding=(0, 1, 1)), b3(256)),
            *_conv_block(c3(256, 256, (1, 3, 3), padding=(0, 1, 1)), b3(256), nn.MaxPool3d((1, 3, 3), (1, 2, 2))),
            *_conv_block(c3(256, 512, (1, 6, 6)), b3(512)),
        )

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfcaud(self.netcnnaud(x).flatten(1))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfclip(self.netcnnlip(x).flatten(1))


def load_syncnet(path: str | Path | None = None, device: str | torch.device = "cpu") -> SyncNetV2:
    """SyncNet v2 with the official weights, in eval mode.

    path None: the registry's `syncnet_v2.model`, checksum-verified (raises MissingWeights with the fetch
    command when absent). An explicit path is loaded as given, unverified (the caller vouches for it).
    Loading is weights_only: a file that is a pickled module rather than a state dict is refused.
    """
    if path is None:
        from spacex.weights import require

        path = require("syncnet_v2")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError and friends: the file holds more than tensors
        raise ValueError(f"{path}: not a plain SyncNet state dict, refusing to unpickle it ({e})") from e
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict (name -> tensor), got {type(state).__name__}")
    model = SyncNetV2()
    # The official file predates BatchNorm's num_batches_tracked buffer; BatchNorm's own loader fills it in
    # for old state dicts, so strict loading still catches any real name or shape mismatch.
    model.load_state_dict(state, strict=True)
    return model.eval().to(device)


# ------------------------------------------------------------------------------------------------ audio
def syncnet_mfcc(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """16 kHz mono float audio in [-1, 1] (S,) -> MFCCs (13, N) at 100 Hz.

    python_speech_features.mfcc with the convention's parameters, on int16-scaled samples as syncnet_python
    reads them from a pcm_s16le wav (the scale only moves the appended log-energy row, but it moves it).
    Its framing gives N = 1 + ceil((S - 400) / 160), i.e. 100 * seconds - 1 for whole seconds.
    """
    import python_speech_features

    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"SyncNet MFCCs need {SAMPLE_RATE} Hz audio, got {sample_rate} (resample first)")
    pcm = np.clip(np.round(np.asarray(audio, np.float64) * 32768), -32768, 32767).astype(np.int16)
    mfcc = python_speech_features.mfcc(pcm, SAMPLE_RATE, winlen=0.025, winstep=0.01, numcep=13, nfilt=26,
                                       nfft=512, preemph=0.97, ceplifter=22, appendEnergy=True)
    return mfcc.T.astype(np.float32)  # (13, N)


# --------------------------------------------------------------------------------------------- offsets
@dataclass(frozen=True)
class SyncResult:
    lse_d: float  # min over offsets of the mean distance (lower = better sync)
    lse_c: float  # median - min of the mean distances (higher = more confident)
    offset: int  # syncnet_python's AV offset in frames (> 0: audio leads the video)
    dists: np.ndarray  # (2 * vshift + 1,) mean distance per candidate, official order: index j <-> offsets[j]
    frame_dists: np.ndarray  # (N, 2 * vshift + 1) distance per window and candidate

    @property
    def offsets(self) -> np.ndarray:
        vshift = (len(self.dists) - 1) // 2
        return vshift - np.arange(len(self.dists))


def offset_scores(video_emb: np.ndarray | torch.Tensor, audio_emb: np.ndarray | torch.Tensor,
                  vshift: int = 15) -> SyncResult:
    """LSE-D / LSE-C / offset from per-window embeddings (N, D), exactly as syncnet_python's calc_pdist.

    Window t of the video is compared with audio windows t - vshift .. t + vshift; audio windows beyond
    either end are zero vectors (they count in the mean, as in the official code), and distances are
    torch's pairwise_distance (with its eps = 1e-6), in float32.
    """
    v = torch.as_tensor(video_emb, dtype=torch.float32)
    a = torch.as_tensor(audio_emb, dtype=torch.float32)
    if v.shape != a.shape or v.ndim != 2 or len(v) == 0:
        raise ValueError(f"need two (N, D) embeddings of the same shape, got {tuple(v.shape)} and {tuple(a.shape)}")
    width = 2 * vshift + 1
    padded = F.pad(a, (0, 0, vshift, vshift))  # (N + 2 vshift, D): padded[t + j] = audio[t + j - vshift]
    rows = []
    for s in range(0, len(v), 256):  # chunks bound memory at 256 x width x D floats
        t = torch.arange(s, min(s + 256, len(v)))
        cand = padded[t[:, None] + torch.arange(width)[None]]  # (n, width, D)
        rows.append(F.pairwise_distance(v[t][:, None, :].expand_as(cand), cand))  # (n, width)
    frame_dists = torch.cat(rows).numpy()
    dists = frame_dists.mean(0)  # (width,)
    j = int(np.argmin(dists))
    return SyncResult(lse_d=float(dists[j]), lse_c=float(np.median(dists) - dists[j]), offset=vshift - j,
                      dists=dists, frame_dists=frame_dists)


# ------------------------------------------------------------------------------------------------ LSE
def _video_windows(frames: np.ndarray, start: int, stop: int, bgr: bool) -> torch.Tensor:
    """Frames (T, H, W, 3) uint8 -> windows start..stop-1 as (B, 3, 5, 224, 224) BGR float 0-255."""
    clip = torch.from_numpy(np.ascontiguousarray(frames[start:stop + WINDOW_FRAMES - 1])).permute(0, 3, 1, 2)
    clip = clip.float()
    if not bgr:
        clip = clip.flip(1)  # RGB -> BGR: the weights were trained on OpenCV-decoded frames
    if clip.shape[-2:] != (CROP, CROP):
        # Bilinear with half-pixel centres and no antialiasing: what cv2.resize(INTER_LINEAR) does in
        # syncnet_python's crop step.
        clip = F.interpolate(clip, size=(CROP, CROP), mode="bilinear", align_corners=False, antialias=False)
    idx = torch.arange(stop - start)[:, None] + torch.arange(WINDOW_FRAMES)[None]  # (B, 5)
    return clip[idx].permute(0, 2, 1, 3, 4).contiguous()  # (B, 3, 5, 224, 224)


@torch.no_grad()
def embed(model: SyncNetV2, frames: np.ndarray, mfcc: np.ndarray, n_windows: int, batch_size: int = 20,
          bgr: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Video and audio embeddings (n_windows, 1024) each; window t = frames t..t+4, MFCC columns 4t..4t+19."""
    device = next(model.parameters()).device
    cc = torch.from_numpy(np.ascontiguousarray(mfcc, np.float32))  # (13, M)
    vid, aud = [], []
    for s in range(0, n_windows, batch_size):
        e = min(s + batch_size, n_windows)
        vid.append(model.forward_lip(_video_windows(frames, s, e, bgr).to(device)).cpu())
        cols = MFCC_PER_FRAME * torch.arange(s, e)[:, None] + torch.arange(WINDOW_FRAMES * MFCC_PER_FRAME)[None]
        aud.append(model.forward_aud(cc[:, cols].permute(1, 0, 2)[:, None].to(device)).cpu())  # (B, 1, 13, 20)
    return torch.cat(vid).numpy(), torch.cat(aud).numpy()


def lse(frames: np.ndarray, audio: np.ndarray, model: SyncNetV2, sample_rate: int = SAMPLE_RATE,
        fps: float = FPS, vshift: int = 15, batch_size: int = 20,
        channel_order: Literal["rgb", "bgr"] = "rgb") -> SyncResult:
    """LSE-D / LSE-C / AV offset of face crops (T, H, W, 3) uint8 against mono audio (S,) float in [-1, 1].

    Crops are face crops as SyncNet's pipeline makes them (the face box with a margin, the mouth in the
    lower half), any square-ish size: they are resized to 224x224. RGB by default (what spacex.media
    decodes); pass channel_order="bgr" for OpenCV-decoded frames. Audio at another rate is resampled to
    16 kHz. Video must be 25 fps (resample it first: SyncNet's 4-columns-per-frame windowing assumes it).
    Windows as the official code: min(T, floor(S / 640)) - 5 of them (the official loop stops one short).
    """
    from spacex import media

    if abs(fps - FPS) > 1e-3:
        raise ValueError(f"SyncNet needs {FPS} fps video, got {fps}: resample the frames first")
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    audio = media.resample_audio(np.asarray(audio, np.float32), sample_rate, SAMPLE_RATE)
    n_windows = min(len(frames), len(audio) // (SAMPLE_RATE // FPS)) - WINDOW_FRAMES
    if n_windows < 1:
        raise ValueError(f"too short for SyncNet: {len(frames)} frames, {len(audio) / SAMPLE_RATE:.2f} s of audio")
    video_emb, audio_emb = embed(model, frames, syncnet_mfcc(audio), n_windows, batch_size,
                                 bgr=channel_order == "bgr")
    return offset_scores(video_emb, audio_emb, vshift)


# ------------------------------------------------------------------------------ offline lip-sync score
@dataclass(frozen=True)
class AVSyncResult:
    av_corr: float  # max over offsets of Pearson r(mouth opening, audio energy); NaN if undefined
    av_offset: int | None  # argmax offset, LSE's sign convention (> 0: audio leads); None if undefined
    av_conf: float  # max - median of the correlations over offsets
    corrs: np.ndarray  # (2 * vshift + 1,) correlation per candidate, index j <-> offset vshift - j


def audio_envelope(audio: np.ndarray, sample_rate: int, fps: float, n_frames: int) -> np.ndarray:
    """RMS energy per video frame (n_frames,): a window of two frame durations centred on each frame's middle.

    Any sample rate and fps (no whole-samples-per-frame requirement); frames past the audio's end get 0.
    """
    x = np.asarray(audio, np.float64)
    cum = np.concatenate([[0.0], np.cumsum(x * x)])
    centre = (np.arange(n_frames) + 0.5) * sample_rate / fps  # samples
    lo = np.clip(np.round(centre - sample_rate / fps), 0, len(x)).astype(int)
    hi = np.clip(np.round(centre + sample_rate / fps), 0, len(x)).astype(int)
    n = hi - lo
    return np.sqrt(np.where(n > 0, (cum[hi] - cum[lo]) / np.maximum(n, 1), 0.0))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 1e-12 else float("nan")


def av_sync(mouth_open: np.ndarray, audio: np.ndarray, sample_rate: int, fps: float, vshift: int = 15) -> AVSyncResult:
    """Offline lip sync: mouth opening (T,) (e.g. spacex.landmarks.mouth_opening of 68-pt landmarks) vs the
    audio's RMS envelope at the video frame rate, Pearson r at offsets -vshift..vshift frames.

    Candidate j compares mouth[t] with envelope[t + j - vshift] over the frames where both exist (no zero
    padding: padding would bias a correlation), like LSE's candidates, and av_offset = vshift - argmax_j,
    so its sign matches LSE's offset. Needs no weights; a heuristic, NOT comparable with published LSE-D/C.
    Clips where either trace is constant (a frozen mouth, silence) give NaN and av_offset None.
    """
    m = np.asarray(mouth_open, np.float64)
    if m.ndim != 1:
        raise ValueError(f"mouth_open must be (T,), got {m.shape}")
    if len(m) < 2 * vshift + 3:
        raise ValueError(f"{len(m)} frames is too short for offsets -{vshift}..{vshift}")
    env = audio_envelope(audio, sample_rate, fps, len(m))
    corrs = np.empty(2 * vshift + 1)
    for j in range(2 * vshift + 1):
        lag = j - vshift  # mouth[t] vs env[t + lag]
        t0, t1 = max(0, -lag), min(len(m), len(m) - lag)
        corrs[j] = _pearson(m[t0:t1], env[t0 + lag:t1 + lag])
    if not np.isfinite(corrs).any():
        return AVSyncResult(float("nan"), None, float("nan"), corrs)
    j = int(np.nanargmax(corrs))
    return AVSyncResult(av_corr=float(corrs[j]), av_offset=vshift - j,
                        av_conf=float(corrs[j] - np.nanmedian(corrs)), corrs=corrs)
