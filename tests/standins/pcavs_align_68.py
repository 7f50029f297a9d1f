"""Stand-in for PC-AVS's scripts/align_68.py (github.com/Hangz-nju-cuhk/Talking-Face_PC-AVS): same argument and
output (<folder>_cropped/ next to the folder, same file names, 224x224), without face-alignment's network: the
'alignment' is a fixed similarity (the centred square of 0.8 x the short side, moved up by 5 %, to 224)."""
import argparse
import os

import numpy as np
from PIL import Image


def align_folder(folder_path, folder_save_path):
    names = sorted(f for f in os.listdir(folder_path) if f.endswith((".jpg", ".png")))
    if not names:
        print("preprocessing failed")
        return False
    for name in names:
        with Image.open(os.path.join(folder_path, name)) as im:
            img = np.asarray(im.convert("RGB"))
        H, W = img.shape[:2]
        side = 0.8 * min(H, W)
        cx, cy = W / 2, H / 2 - 0.05 * H
        box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
        out = Image.fromarray(img).resize((224, 224), Image.BILINEAR, box=box)
        out.save(os.path.join(folder_save_path, name.split("/")[-1]), quality=95)
    print("cropped files saved at {}".format(folder_save_path))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder_path", help="the folder which needs processing")
    args = parser.parse_args()
    if os.path.isdir(args.folder_path):
        home_path = "/".join(args.folder_path.split("/")[:-1])
        save_img_path = os.path.join(home_path, args.folder_path.split("/")[-1] + "_cropped")
        os.makedirs(save_img_path, exist_ok=True)
        align_folder(args.folder_path, save_img_path)


if __name__ == "__main__":
    main()
