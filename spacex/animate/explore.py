"""Interactive exploration (notebooks/41_explore.ipynb): widgets for emotion, intensity, pose, blinks and
seed; each run shows the intermediate predictions (mouth opening, eye closure, head pose, keypoint motion),
the side-by-side stage video and the output with sound.

Gaze has no widget: it needs dense eye landmarks (iris points), which neither the 68-point landmarks nor the
SynthTalk corpus provide (docs/animate.md, "Gaze").
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spacex import landmarks as lm
from spacex.animate.pipeline import AnimateOptions, AnimateResult, Animator


def plot_intermediates(result: AnimateResult):
    """Traces of what each stage predicted over time -> a matplotlib Figure (4 rows)."""
    import matplotlib.pyplot as plt

    t = np.arange(len(result.keypoints)) / result.fps
    fig, ax = plt.subplots(4, 1, figsize=(9, 7), sharex=True)
    ax[0].plot(t, lm.mouth_opening(result.normalized_landmarks))
    ax[0].set(ylabel="mouth opening", title="Speech2Landmarks (normalized space)")
    ax[1].plot(t, lm.eye_aspect_ratio(result.normalized_landmarks).mean(1))
    ax[1].set(ylabel="eye aspect ratio", title="blinks")
    ax[2].plot(t, result.pose - result.pose[:1], label=["yaw", "pitch", "roll"])
    ax[2].set(ylabel="degrees", title="head pose (relative to the photo)")
    ax[2].legend(loc="upper right", fontsize=8)
    motion = np.linalg.norm(result.keypoints - result.keypoints[:1], axis=-1)  # (T, K)
    ax[3].plot(t, motion)
    ax[3].set(ylabel="|kp - kp[0]|", xlabel="seconds", title="Landmarks2Latents keypoint motion")
    fig.tight_layout()
    return fig


def run(animator: Animator, photo, audio, options: AnimateOptions, out_dir: str | Path) -> tuple[AnimateResult, Path, Path]:
    """Animate to out_dir/explore.mp4 and its side-by-side panels video; returns (result, video, panels)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = animator(photo, audio, options, stream_to=out_dir / "explore.mp4")
    return result, result.video, result.save_side_by_side(result.video)


def explorer(animator: Animator, photo, audio, out_dir: str | Path = "build/explore"):
    """An ipywidgets panel: controls, an Animate button, and the outputs of the last run."""
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import Video, display

    emotion = w.Dropdown(options=animator.emotions, value="happy" if "happy" in animator.emotions else None,
                         description="emotion")
    intensity = w.FloatSlider(value=0.7, min=0.0, max=1.0, step=0.05, description="intensity")
    pose = w.Dropdown(options=["predicted", "fixed"] if animator.posegen else ["fixed"], description="pose")
    seed = w.IntText(value=0, description="seed")
    blink = w.Text(value="auto", description="blink", placeholder="auto | off | 1.2,3.5")
    button = w.Button(description="Animate", button_style="primary")
    output = w.Output()

    def options() -> AnimateOptions:
        mix = f"{emotion.value}:{intensity.value}" if intensity.value > 0 else "neutral:1.0"
        return AnimateOptions(emotion=mix, pose=pose.value, pose_seed=seed.value, blink=blink.value)

    def on_click(_=None):
        with output:
            output.clear_output()
            result, video, panels = run(animator, photo, audio, options(), out_dir)
            display(plot_intermediates(result))
            plt.close("all")
            display(Video(str(panels), embed=True, width=768), Video(str(video), embed=True, width=256))

    button.on_click(on_click)
    box = w.VBox([w.HBox([emotion, intensity]), w.HBox([pose, seed, blink]), button, output])
    box.options, box.animate = options, on_click  # for scripted use and tests
    return box
