"""face-vid2vid (Wang, Mallya, Liu, CVPR 2021): one module per network; `model.FaceVid2Vid` wires them and
computes the losses. See ../../shared/spec/METHOD.md for the architecture facts this follows."""
