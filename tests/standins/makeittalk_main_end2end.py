"""Stand-in for MakeItTalk's main_end2end.py (github.com/adobe-research/MakeItTalk): the official arguments,
file handling and output, without its networks. Copied into a fake repository as main_end2end.py.

Like the original: reads examples/<jpg> (256x256); opens the checkpoints in examples/ckpt and
examples/dump/emb.pickle; processes EVERY *.wav in examples/ and overwrites it (resampled to 16 kHz and
loudness-normalized); writes out.mp4 in the working folder and, per wav,
examples/<jpg stem>_pred_fls_<wav stem>_audio_embed.mp4: 768x256 at 62.5 fps, [input | generated | landmarks],
with the wav muxed in. Panels are told apart by colour here: input tinted red, generated = the jpg with its
62.5 fps frame index drawn as bits, landmarks black dots on white.
"""
import argparse
import glob
import os

import numpy as np
import soundfile as sf

from _common import encode_index, read_image, write_mp4

parser = argparse.ArgumentParser()
parser.add_argument("--jpg", type=str, default="dali.jpg")
parser.add_argument("--close_input_face_mouth", default=False, action="store_true")
parser.add_argument("--load_AUTOVC_name", type=str, default="examples/ckpt/ckpt_autovc.pth")
parser.add_argument("--load_a2l_G_name", type=str, default="examples/ckpt/ckpt_speaker_branch.pth")
parser.add_argument("--load_a2l_C_name", type=str, default="examples/ckpt/ckpt_content_branch.pth")
parser.add_argument("--load_G_name", type=str, default="examples/ckpt/ckpt_116_i2i_comb.pth")
parser.add_argument("--amp_lip_x", type=float, default=2.0)
parser.add_argument("--amp_lip_y", type=float, default=2.0)
parser.add_argument("--amp_pos", type=float, default=0.5)
parser.add_argument("--output_folder", type=str, default="examples")
opt_parser = parser.parse_args()

img = read_image("examples/" + opt_parser.jpg)  # cv2.imread + face-alignment in the original
assert img.shape == (256, 256, 3), img.shape
for ckpt in (opt_parser.load_AUTOVC_name, opt_parser.load_a2l_G_name, opt_parser.load_a2l_C_name,
             opt_parser.load_G_name, os.path.join("examples", "dump", "emb.pickle")):
    open(ckpt, "rb").close()

ains = sorted(a for a in glob.glob1("examples", "*.wav") if a != "tmp.wav")
for ain in ains:
    wav, sr = sf.read(os.path.join("examples", ain), dtype="float32")
    if wav.ndim > 1:
        wav = wav.mean(1)
    if sr != 16000:
        wav = np.interp(np.arange(0, len(wav), sr / 16000), np.arange(len(wav)), wav).astype(np.float32)
        sr = 16000
    rms = np.sqrt(np.mean(wav ** 2)) + 1e-9
    wav = np.clip(wav * (10 ** (-20 / 20) / rms), -1, 1)  # -20 dBFS, written back over the user's file
    sf.write(os.path.join("examples", ain), wav, sr)

    n = int(len(wav) / sr * 62.5)
    red = (img * np.array([1.0, 0.35, 0.35])).astype(np.uint8)
    marks = np.full_like(img, 255)
    marks[100:104, 60:200] = 0
    frames = [np.concatenate([red, encode_index(img, k), marks], axis=1) for k in range(n)]
    open("out.mp4", "wb").close()
    stem = ain[:-4]
    write_mp4("examples/{}_pred_fls_{}_audio_embed.mp4".format(opt_parser.jpg.split(".")[0], stem),
              frames, 62.5, wav, sr)
    print("finish image2image gen")
