"""Random-weight checkpoints for one baseline, built from the repository's own classes, in the exact files and formats
its CLI loads; and the third-party weights its code would fetch (torchvision's VGG19, face-alignment's S3FD, FAN and
depth networks), in the torch hub cache it reads. For benchmarks/baselines_integration.py: plumbing only.

Run by the baseline's own interpreter with the working folder = a scratch copy of its clone (never the user's clone):

    <venv>/bin/python benchmarks/baselines_random_weights.py NAME TORCH_HOME

Prints one JSON line: {"files": {path: bytes}, "torchscript": {hub path: face-alignment class to trace}}.
"""
from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import torch

torch.manual_seed(0)


def wav2lip(hub: Path) -> list[Path]:
    from face_detection.detection.sfd.net_s3fd import s3fd  # Wav2Lip's own copy of S3FD
    from models import Wav2Lip

    out = [Path("checkpoints/wav2lip_gan.pth"), Path("face_detection/detection/sfd/s3fd.pth")]
    # inference.py _load + load_model: checkpoint["state_dict"], "module." prefixes stripped
    torch.save({"state_dict": Wav2Lip().state_dict(), "optimizer": None, "global_step": 0, "global_epoch": 0}, out[0])
    torch.save(s3fd().state_dict(), out[1])
    return out


def makeittalk(hub: Path) -> list[Path]:
    sys.path.append("thirdparty/AdaptiveWingLoss")  # as main_end2end.py does
    from src.autovc.retrain_version.model_vc_37_1 import Generator
    from src.models.model_audio2landmark import Audio2landmark_content, Audio2landmark_pos
    from src.models.model_image_translation import ResUnetGenerator

    ckpt = Path("examples/ckpt")
    ckpt.mkdir(parents=True, exist_ok=True)
    out = [ckpt / "ckpt_autovc.pth", ckpt / "ckpt_content_branch.pth", ckpt / "ckpt_speaker_branch.pth",
           ckpt / "ckpt_116_i2i_comb.pth", Path("examples/dump/emb.pickle")]
    # the constructors and keys of AutoVC_mel_Convertor, Audio2landmark_model and Image_translation_block
    torch.save({"model": Generator(16, 256, 512, 16).state_dict()}, out[0])
    torch.save({"model_g_face_id": Audio2landmark_content(num_window_frames=18, in_size=80, use_prior_net=True,
                                                          bidirectional=False, drop_out=0.5).state_dict()}, out[1])
    torch.save({"G": Audio2landmark_pos(drop_out=0.5, spk_emb_enc_size=128, c_enc_hidden_size=256,
                                        transformer_d_model=32, N=2, heads=2, z_size=128,
                                        audio_dim=256).state_dict()}, out[2])
    torch.save({"G": ResUnetGenerator(input_nc=6, output_nc=3, num_downs=6, use_dropout=False).state_dict()}, out[3])
    out[4].parent.mkdir(parents=True, exist_ok=True)
    with open(out[4], "wb") as f:  # speaker name -> embedding (Audio2landmark_model prints its keys)
        pickle.dump({"spacex_random": np.random.default_rng(0).standard_normal(256).astype(np.float32)}, f)
    return out + face_alignment_weights(hub, "3D")


def pcavs(hub: Path) -> list[Path]:
    import models.networks as networks  # imports models/networks/loss.py: VGG19 from the hub cache
    from options.test_options import TestOptions

    sys.argv = ["inference.py", *os.environ["PCAVS_FLAGS"].split(), "--gpu_ids", "-1"]
    opt = TestOptions().parse()
    opt.isTrain = False
    folder = Path(opt.checkpoints_dir) / opt.name
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    # AvModel.initialize_networks builds these four at inference (use_audio, no use_audio_id) and load_network
    # reads '<which_epoch>_net_<label>.pth', a plain state_dict each
    for label, define in (("G", networks.define_G), ("V", networks.define_V), ("E", networks.define_E),
                          ("A_sync", networks.define_A_sync)):
        out.append(folder / f"{opt.which_epoch}_net_{label}.pth")
        torch.save(define(opt).state_dict(), out[-1])
    return out


def face_alignment_weights(hub: Path, kind: str) -> list[Path]:
    """face-alignment 1.3.x fetches an S3FD state dict and TorchScript archives (FAN, and depth for 3D) through torch
    hub's cache, by names that depend on the torch version: the S3FD from its own class here; the archives' paths
    returned for the kit's interpreter to trace (1.3.x ships no model classes; the kit's face-alignment has them)."""
    from face_alignment import api
    from face_alignment.detection.sfd.net_s3fd import s3fd

    version = torch.__version__.rsplit(".", 2 if "dev" in torch.__version__ else 1)[0]  # as FaceAlignment does
    urls = api.models_urls.get(version, api.default_model_urls)
    s3fd_file = hub / "s3fd-619a316812.pth"
    torch.save(s3fd().state_dict(), s3fd_file)
    TORCHSCRIPT[str(hub / os.path.basename(urls[f"{kind}FAN-4"]))] = "FAN"
    if kind == "3D":
        TORCHSCRIPT[str(hub / os.path.basename(urls["depth"]))] = "ResNetDepth"
    return [s3fd_file]


TORCHSCRIPT: dict[str, str] = {}  # path -> face-alignment class, traced by the kit's interpreter


def vgg19(hub: Path) -> list[Path]:
    import torchvision

    out = [hub / "vgg19-dcbb9e9d.pth"]
    torch.save(torchvision.models.vgg19().state_dict(), out[0])
    return out


if __name__ == "__main__":
    sys.path.insert(0, os.getcwd())  # the clone's modules, as when its own scripts run from its root
    name, hub = sys.argv[1], Path(sys.argv[2]) / "hub" / "checkpoints"
    hub.mkdir(parents=True, exist_ok=True)
    os.environ["TORCH_HOME"] = sys.argv[2]
    files = {"wav2lip": lambda: wav2lip(hub), "makeittalk": lambda: makeittalk(hub),
             "pcavs": lambda: vgg19(hub) + pcavs(hub) + face_alignment_weights(hub, "2D")}[name]()
    print(json.dumps({"files": {str(p): p.stat().st_size for p in files}, "torchscript": TORCHSCRIPT}))
