"""Write spacex/data/mean_shape_68.json: the generic 3D face used for pose fitting and 2D->3D lifting.

It is the neutral shape of the SynthTalk face model built from scikit-image's astronaut portrait (68 dlib
landmarks, mouth closed, ellipsoid-plus-nose depth), in the normalized space. Regenerate with
`python tools/make_mean_shape.py`. A better mean (e.g. averaged 3DDFA fits over a real corpus) can replace
the file as long as it stays in the normalized space (ears at distance 1, origin between them).
"""
import json

import numpy as np

from spacex.corpus.synth import face
from spacex.corpus.synth.render import default_portraits

portrait = default_portraits(512)[0]
shape = face.make_identity(portrait.landmarks, np.random.default_rng(0), vary=False).neutral
doc = {
    "description": "generic 68-point 3D face, normalized space (x right, y down, z away from camera, ears 1 apart)",
    "source": "tools/make_mean_shape.py (astronaut portrait, dlib 68 landmarks, template depth)",
    "points": np.round(shape, 5).tolist(),
}
with open("spacex/data/mean_shape_68.json", "w") as f:
    json.dump(doc, f, indent=0)
print("wrote spacex/data/mean_shape_68.json")
