"""The kit's expected failures: one base class, one subclass per layer.

An expected failure is one the user can fix (a file that does not decode, an output path that is an input, a
run folder another process holds). Every layer raises its own subclass with a message that names the file
and the reason; the command line catches `KitError` at its edge and prints the message as one line on
stderr with exit status 2 (`spacex.cli.main`). Anything else is a bug and keeps its traceback.

    KitError
      MediaError        spacex.media: a video, audio or image file that cannot be used
      OutputError       spacex.files: an output path that would replace an input, or cannot be written
      CorpusError       spacex.corpus.clip: a manifest or clip sidecar that is missing or inconsistent
      CheckpointError   spacex.checkpoint: a missing run folder, a torn file, a pickled payload
      RunFolderBusy     spacex.files: a run folder that another process is writing
      ConfigError       spacex.config: an unknown profile or key, a section of the wrong type
      AudioError        spacex.preprocess.audio: audio that is silent, too short or not finite
      SkipClip          spacex.preprocess.detect: a clip a batch stage skips (no face, several faces, ...)
      MissingWeights    spacex.weights: an external weight file that is not in the cache
      BaselineError     spacex.evaluate.baselines: a baseline that cannot run, and why
      AnimateError      spacex.animate.pipeline: input that cannot be animated
"""
from __future__ import annotations

import sys
from collections.abc import Callable


class KitError(Exception):
    """A failure caused by input or environment that the user can fix; its message is one line."""


class OutputError(KitError, ValueError):
    """An output path that would replace an input, is a folder, or sits where nothing can be written."""


class CorpusError(KitError, ValueError):
    """A corpus whose manifest or sidecars are missing or inconsistent (e.g. duplicate clip ids)."""


class ConfigError(KitError, KeyError, ValueError):
    """A profile, section or key of params.yaml that does not exist or has the wrong type or value."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class RunFolderBusy(KitError, RuntimeError):
    """A run folder that another live process holds."""


# What a command line turns into one line and exit 2: the kit's own errors and the OS's plain file errors.
EXPECTED = (KitError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def at_the_edge(command: str, run: Callable[[], int]) -> int:
    """Run a command's body: an expected failure becomes one line on stderr and exit 2, Ctrl-C exit 130; anything
    else is a bug and keeps its traceback."""
    try:
        return run()
    except EXPECTED as e:
        message = " | ".join(line.strip() for line in str(e).splitlines() if line.strip()) or type(e).__name__
        print(f"{command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted (no output was left under a final name)", file=sys.stderr)
        return 130
