"""Motion-field estimator: from source/driving keypoints and the source volume, a dense 3D deformation
(a soft mix of K+1 motions: identity + one per keypoint) and a 2D occlusion map."""
import torch
import torch.nn.functional as F
from torch import nn

from spacex.models.fv2v.blocks import Hourglass3d, gaussian3d, grid3d


class MotionFieldEstimator(nn.Module):
    def __init__(self, num_kp: int, volume_channels: int = 16, depth: int = 8, ch: int = 32, compressed: int = 4,
                 levels: int = 2, max_ch: int = 0, deep_skip: bool = True):
        super().__init__()
        self.compress = nn.Conv3d(volume_channels, compressed, 1)
        self.hourglass = Hourglass3d((num_kp + 1) * (compressed + 1), ch=ch, levels=levels, max_ch=max_ch,
                                     deep_skip=deep_skip)
        self.mask = nn.Conv3d(self.hourglass.out_channels, num_kp + 1, 3, padding=1)
        self.occlusion = nn.Conv2d(self.hourglass.out_channels * depth, 1, 7, padding=3)

    def forward(self, volume, kp_source, kp_driving) -> dict:
        """volume (B, C, D, h, w); keypoints (B, K, 3) -> deformation (B, D, h, w, 3), occlusion (B, 1, h, w)."""
        B, _, D, h, w = volume.shape
        K = kp_source.shape[1]
        grid = grid3d(D, h, w, device=volume.device)[None, None]  # (1, 1, D, h, w, 3)
        # Each keypoint's motion translates its neighbourhood: driving point -> source point.
        sparse = grid - kp_driving[:, :, None, None, None] + kp_source[:, :, None, None, None]  # (B, K, D, h, w, 3)
        sparse = torch.cat([grid.expand(B, 1, D, h, w, 3), sparse], 1)  # (B, K+1, ...): identity first
        comp = self.compress(volume)  # (B, c, D, h, w)
        c = comp.shape[1]
        # One grid_sample at all K+1 grids stacked along depth, without K+1 copies of the volume.
        warped = F.grid_sample(comp, sparse.reshape(B, (K + 1) * D, h, w, 3), align_corners=True)
        warped = warped.view(B, c, K + 1, D, h, w).transpose(1, 2)  # (B, K+1, c, D, h, w)
        heat = gaussian3d(kp_driving, (D, h, w)) - gaussian3d(kp_source, (D, h, w))  # (B, K, D, h, w)
        heat = torch.cat([torch.zeros_like(heat[:, :1]), heat], 1)[:, :, None]  # (B, K+1, 1, D, h, w)
        feat = self.hourglass(torch.cat([warped, heat], 2).view(B, -1, D, h, w))
        mask = F.softmax(self.mask(feat), 1)  # (B, K+1, D, h, w)
        deformation = (mask[..., None] * sparse).sum(1)  # (B, D, h, w, 3)
        occlusion = torch.sigmoid(self.occlusion(feat.view(B, -1, h, w)))
        return {"deformation": deformation, "occlusion": occlusion, "mask": mask}
