"""For benchmarks/baselines_integration.py only: face-alignment's S3FD with random weights finds no single face (or
dozens), and PC-AVS's align_68.py and MakeItTalk stop unless exactly one is found. So in the check, S3FD returns the
face box the kit's MTCNN found on the same photo (SPACEX_CHECK_FACE_BOX: x0, y0, x1, y1 as fractions of the image);
its network still loads and every other network runs with its random weights. Also installs the kit's CPU route
(SPACEX_CPU_ROUTE), which this module replaces on the path (Python imports one sitecustomize)."""
import importlib.util
import json
import os

_spec = importlib.util.spec_from_file_location("spacex_cpu_route", os.environ["SPACEX_CPU_ROUTE"])
route = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(route)  # installs the import hook (a no-op where there is a GPU)
BOX = json.loads(os.environ["SPACEX_CHECK_FACE_BOX"])


def _patch_face_alignment(fa):
    import numpy as np
    from face_alignment.detection.sfd.sfd_detector import SFDDetector

    route._patch_face_alignment(fa)

    def detect_from_image(self, tensor_or_path):
        h, w = self.tensor_or_path_to_ndarray(tensor_or_path).shape[:2]
        x0, y0, x1, y1 = BOX
        return [np.array([x0 * w, y0 * h, x1 * w, y1 * h, 0.99])]

    SFDDetector.detect_from_image = detect_from_image


route.PATCHES["face_alignment"] = _patch_face_alignment
