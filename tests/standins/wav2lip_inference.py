"""Stand-in for Wav2Lip's inference.py (github.com/Rudrabha/Wav2Lip): the official arguments, quirks and output,
without its network (the checkpoints cannot exist offline). Copied into a fake repository as inference.py.

Like the original: `--face` is treated as an image only when `face.split('.')[1]` is jpg/png/jpeg (a '.'
elsewhere in the path breaks it); checkpoint and face_detection/detection/sfd/s3fd.pth are opened; one frame
per mel window (80 mel columns per second, 16-column windows), so the video is ~0.2 s shorter than the wav;
it needs temp/ in the working folder; the output is the full frame at 25 fps with the wav muxed in.
Instead of a re-rendered mouth, each frame carries its index as bits (tests decode them).
"""
import argparse
import os
import sys

import soundfile as sf

from _common import encode_index, read_image, write_mp4

parser = argparse.ArgumentParser(description="Inference code to lip-sync videos in the wild using Wav2Lip models")
parser.add_argument("--checkpoint_path", type=str, required=True)
parser.add_argument("--face", type=str, required=True)
parser.add_argument("--audio", type=str, required=True)
parser.add_argument("--outfile", type=str, default="results/result_voice.mp4")
parser.add_argument("--static", type=bool, default=False)
parser.add_argument("--fps", type=float, default=25.0)
parser.add_argument("--pads", nargs="+", type=int, default=[0, 10, 0, 0])
parser.add_argument("--face_det_batch_size", type=int, default=16)
parser.add_argument("--wav2lip_batch_size", type=int, default=128)
parser.add_argument("--resize_factor", default=1, type=int)
parser.add_argument("--nosmooth", default=False, action="store_true")
args = parser.parse_args()

if os.path.isfile(args.face) and args.face.split(".")[1] in ["jpg", "png", "jpeg"]:
    args.static = True


def main():
    if not args.static:  # the original opens it with cv2.VideoCapture, reads 0 frames and fails later
        print("Number of frames available for inference: 0")
        raise IndexError("list index out of range")
    with open(args.checkpoint_path, "rb") as f:  # torch.load
        if f.read(7) == b"corrupt":
            raise RuntimeError("PytorchStreamReader failed reading zip archive: failed finding central directory")
    s3fd = os.path.join(os.path.dirname(os.path.abspath(__file__)), "face_detection/detection/sfd/s3fd.pth")
    open(s3fd, "rb").close()

    frame = read_image(args.face)
    wav, sr = sf.read(args.audio, dtype="float32")
    assert sr == 16000, "the stand-in, like audio.load_wav(path, 16000) on a 16 kHz file, expects 16 kHz"
    mel_frames = 1 + len(wav) // 200  # hop 200 at 16 kHz, centred STFT
    n = 0
    while int(n * 80.0 / args.fps) + 16 <= mel_frames:
        n += 1
    print("Length of mel chunks: {}".format(n))
    if not os.path.isdir("temp"):  # cv2.VideoWriter('temp/result.avi') fails silently, then ffmpeg finds nothing
        print("temp/result.avi: No such file or directory")
        return
    open("temp/result.avi", "wb").close()
    frames = [encode_index(frame, k) for k in range(n)]
    os.makedirs(os.path.dirname(args.outfile) or ".", exist_ok=True)
    write_mp4(args.outfile, frames, args.fps, wav, sr)


if __name__ == "__main__":
    main()
    sys.exit(0)
