"""Landmarks2Latents: posed landmarks + audio + the source's keypoints, FiLM(emotion) -> face-vid2vid
driving keypoints per frame.

    landmark motion (B, T, 68, 3) --MLP--> (B, T, L) --FiLM(emotion)---------+
    audio mfcc (B, T, 40) --conv1d x2--> (B, T, A) --FiLM(emotion)-----------+--> LSTM --> offsets (B, T, K, 3)
    source keypoints (B, K, 3) --MLP--> (B, S) --FiLM(emotion)-- repeated ---+     prediction = source kp + offsets
    gaze motion (B, T, 2) --linear--> (B, T, G) ------------------------------+     (when gaze_dim > 0)

`inputs` is the paper's ablation switch: "audio+landmarks" (full), "landmarks" (no audio: lip sync degrades),
"audio" (no landmarks: output drifts from the input pose). Gaze (`spacex.gaze`, the iris offset in eye widths) is
the paper's edit of the dense eye landmarks: the 68 points have no irises, so it enters as its own input. The head starts at zero: an untrained model
predicts the source keypoints, the trivial baseline.
"""
from __future__ import annotations

import torch
from torch import nn

from spacex.models.args import L2LArgs
from spacex.models.film import FiLM

INPUTS = ("audio+landmarks", "landmarks", "audio")


class Landmarks2Latents(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        a = self.args = L2LArgs(**kw)
        if a.inputs not in INPUTS:
            raise ValueError(f"inputs must be one of {INPUTS}, got {a.inputs!r}")
        self.use_audio, self.use_landmarks = "audio" in a.inputs, "landmarks" in a.inputs
        self.register_buffer("mfcc_mean", torch.zeros(a.n_mfcc))
        self.register_buffer("mfcc_std", torch.ones(a.n_mfcc))
        width = a.source_dim
        if self.use_landmarks:
            self.landmarks = nn.Sequential(nn.Linear(a.n_points * 3, a.landmark_dim), nn.LeakyReLU(0.2),
                                           nn.Linear(a.landmark_dim, a.landmark_dim))
            self.film_landmarks = FiLM(a.n_emotions, a.landmark_dim)
            width += a.landmark_dim
        if self.use_audio:
            pad = a.kernel // 2
            self.audio = nn.Sequential(nn.Conv1d(a.n_mfcc, a.audio_dim, a.kernel, padding=pad), nn.LeakyReLU(0.2),
                                       nn.Conv1d(a.audio_dim, a.audio_dim, a.kernel, padding=pad), nn.LeakyReLU(0.2))
            self.film_audio = FiLM(a.n_emotions, a.audio_dim)
            width += a.audio_dim
        if a.gaze_dim:
            self.gaze = nn.Sequential(nn.Linear(2, a.gaze_dim), nn.LeakyReLU(0.2))
            width += a.gaze_dim
        self.source = nn.Sequential(nn.Linear(a.num_kp * 3, a.source_dim), nn.LeakyReLU(0.2))
        self.film_source = FiLM(a.n_emotions, a.source_dim)
        self.lstm = nn.LSTM(width, a.hidden, a.layers, batch_first=True)
        self.head = nn.Linear(a.hidden, a.num_kp * 3)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    @property
    def context(self) -> int:
        """Frames of audio each side that one output frame sees (the two convolutions)."""
        return 2 * (self.args.kernel // 2) if self.use_audio else 0

    def forward(self, landmarks, mfcc, source_kp, emotion, state=None, context: tuple[int, int] = (0, 0), gaze=None):
        """landmarks (B, T, 68, 3): crop-relative posed landmarks minus the source frame's; mfcc (B, C0 + T + C1,
        n_mfcc) with `context` (C0, C1) neighbouring frames when streaming (see Speech2Landmarks.forward);
        source_kp (B, K, 3): the source image's face-vid2vid keypoints; emotion (B, E); gaze (B, T, 2): gaze minus
        the source frame's (None: unchanged) -> keypoints (B, T, K, 3)."""
        B, T = landmarks.shape[:2]
        feats = [self.film_source(self.source(source_kp.reshape(B, -1)), emotion)[:, None].expand(B, T, -1)]
        if self.use_landmarks:
            feats.append(self.film_landmarks(self.landmarks(landmarks.reshape(B, T, -1)), emotion))
        if self.use_audio:
            x = ((mfcc - self.mfcc_mean) / self.mfcc_std).transpose(1, 2)
            a = self.audio(x).transpose(1, 2)[:, context[0]: mfcc.shape[1] - context[1]]  # (B, T, A)
            feats.append(self.film_audio(a, emotion))
        if self.args.gaze_dim:
            feats.append(self.gaze(landmarks.new_zeros(B, T, 2) if gaze is None else gaze))
        h, state = self.lstm(torch.cat(feats, -1), state)
        return source_kp[:, None] + self.head(h).view(B, T, -1, 3), state
