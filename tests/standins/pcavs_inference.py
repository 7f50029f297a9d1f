"""Stand-in for PC-AVS's inference.py (github.com/Hangz-nju-cuhk/Talking-Face_PC-AVS at 201d2b9, its newest), run
with the flags of experiments/demo_vox.sh: same csv parsing, output folders and frame numbering, without the networks.

Like the original: loads checkpoints/<name>/latest_net_{G,V,E,A_sync}.pth (a missing one is an uncaught error);
each csv line has 8 space-separated fields; errors inside a line are printed and swallowed (exit 0); frames are
generated for target frames 2 .. n-3 (n = lws spectrogram frames / 4, about len/160 + 7 of them) and saved as
results/id_<id>_pose_<pose>_audio_<audio stem>/<seq>/<seq><j>.jpg, j from 0, so generated frame j belongs to
source frame j + 2. The sequences, as inference.py:52-58 picks them: with --driving_pose Input_, G_Pose_Driven_,
Pose_Source_ (no G_Fix_Pose_); without it Input_ and G_Fix_Pose_; Mouth_Source_ only when the csv names a mouth
folder that exists. The 'generated' frame is the input, cropped as voxtest_dataset.load_img does
([:192, 16:208], back to 224), darkened by STEP per source frame index: tests read the index back."""
import argparse
import os
import traceback

import numpy as np
import soundfile as sf

from _common import read_image, resize

STEP = float(os.environ.get("PCAVS_STANDIN_STEP", 0.04))  # tests that score whole clips darken less

parser = argparse.ArgumentParser()
parser.add_argument("--name", type=str, default="demo")
parser.add_argument("--checkpoints_dir", type=str, default="./checkpoints")
parser.add_argument("--meta_path_vox", type=str, required=True)
parser.add_argument("--driving_pose", action="store_true")
parser.add_argument("--gen_video", action="store_true")
parser.add_argument("--crop_size", type=int, default=224)
parser.add_argument("--crop_len", type=int, default=16)
opt, _ = parser.parse_known_args()  # the remaining demo_vox.sh flags configure networks we do not have


def inference_single_audio(path_label):
    id_path, ref_num, pose_path, pose_num, audio_path, mouth_path, mouth_num, spec_path = path_label.split()
    if not os.path.isdir(pose_path):
        pose_path = id_path
    save = os.path.join("results", "id_" + id_path.split("/")[-1] + "_pose_" + pose_path.split("/")[-1]
                        + "_audio_" + os.path.basename(audio_path)[:-4])
    wav, sr = sf.read(audio_path, dtype="float32")
    n = (len(wav) // 160 + 7) // 4  # lws spectrogram frames at hop 160, 4 per video frame
    targets = np.arange(2, n - 2)
    ids = sorted(f for f in os.listdir(id_path) if f.endswith((".jpg", ".png")))
    img = read_image(os.path.join(id_path, ids[0]))
    c, L = opt.crop_size, opt.crop_len
    img = resize(img[:c - 2 * L, L:c - L], c, c)
    names = ["Input_", "G_Pose_Driven_", "Pose_Source_"] if opt.driving_pose else ["Input_", "G_Fix_Pose_"]
    if os.path.isdir(mouth_path):
        names.append("Mouth_Source_")
    for name in names:
        os.makedirs(os.path.join(save, name), exist_ok=True)
    from PIL import Image

    for j, i in enumerate(targets):
        gen = np.clip(img * (1 - STEP * i), 0, 255).astype(np.uint8)
        for name in names:
            out = gen if name.startswith("G_") else img  # the other sequences show the inputs
            Image.fromarray(out).save(os.path.join(save, name, name + str(j) + ".jpg"), quality=95)
    print("results saved..." + save)


def main():
    for net in ("G", "V", "E", "A_sync"):
        open(os.path.join(opt.checkpoints_dir, opt.name, "latest_net_%s.pth" % net), "rb").close()
    with open(opt.meta_path_vox) as f:
        lines = f.read().splitlines()
    for path_label in lines:
        try:
            assert len(path_label.split()) == 8, path_label
            inference_single_audio(path_label)
        except Exception as ex:
            traceback.print_exc()
            print(path_label + "\n")
            print(str(ex))


if __name__ == "__main__":
    main()
