"""The CPU route for baselines whose code assumes a GPU (PC-AVS, MakeItTalk), without editing their clones.

The kit puts this folder first on the baseline interpreter's PYTHONPATH, so Python imports this module at
start-up. When that interpreter's torch sees no GPU it maps the official code's CUDA calls to the CPU:
- `Tensor.cuda()` and `Module.cuda()` return the object where it is (on the CPU);
- `torch.cuda.set_device()` does nothing;
- `torch.load()` without `map_location` loads onto the CPU (checkpoints saved from GPU tensors);
- `face_alignment.FaceAlignment(..., device='cuda')` builds its networks on the CPU.
With a GPU present it changes nothing. Each patch is applied right after its module is first imported (an
import hook), so a baseline that never imports face_alignment never pays for it. stderr says once that the
route is on, so the run's log shows it.
"""
import functools
import importlib.abc
import sys


def _patch_torch(torch):
    if torch.cuda.is_available():
        return
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    torch.nn.Module.cuda = lambda self, *args, **kwargs: self
    torch.cuda.set_device = lambda *args, **kwargs: None
    load = torch.load

    @functools.wraps(load)
    def load_on_cpu(f, map_location=None, *args, **kwargs):
        return load(f, "cpu" if map_location is None else map_location, *args, **kwargs)

    torch.load = load_on_cpu
    print("spacex cpu route: no GPU; CUDA calls of this baseline run on the CPU", file=sys.stderr)


def _patch_face_alignment(fa):
    import torch

    if torch.cuda.is_available():
        return
    init = fa.FaceAlignment.__init__

    @functools.wraps(init)
    def init_on_cpu(self, landmarks_type, *args, **kwargs):  # device: 3rd positional or keyword, default 'cuda'
        args = list(args)
        if len(args) >= 2:
            args[1] = "cpu" if str(args[1]).startswith("cuda") else args[1]
        elif str(kwargs.get("device", "cuda")).startswith("cuda"):
            kwargs["device"] = "cpu"
        return init(self, landmarks_type, *args, **kwargs)

    fa.FaceAlignment.__init__ = init_on_cpu


PATCHES = {"torch": _patch_torch, "face_alignment": _patch_face_alignment}


class _PatchingLoader(importlib.abc.Loader):
    """Delegates to the module's own loader, then runs its patch (the original loader object is not modified)."""

    def __init__(self, loader, patch):
        self.loader, self.patch = loader, patch

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        self.patch(module)


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds the patched modules as usual, then runs the module's patch once its code has executed."""

    def find_spec(self, name, path, target=None):
        patch = PATCHES.get(name)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader, patch)
                return spec
        return None


sys.meta_path.insert(0, _AfterImport())
