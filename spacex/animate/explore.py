"""Interactive exploration (notebooks/41_explore.ipynb): widgets for emotion, intensity, pose, blinks, gaze
and seed; each run shows the intermediate predictions (mouth opening, eye closure, gaze, head pose, keypoint
motion), the side-by-side stage video and the output with sound.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spacex import landmarks as lm
from spacex import media
from spacex.animate.pipeline import AnimateError, AnimateOptions, AnimateResult, Animator


def plot_intermediates(result: AnimateResult, figsize: tuple[float, float] = (9, 6)):
    """Traces of what each stage predicted over time -> a matplotlib Figure (5 rows)."""
    import matplotlib.pyplot as plt

    t = np.arange(len(result.keypoints)) / result.fps
    fig, ax = plt.subplots(5, 1, figsize=figsize, sharex=True)
    ax[0].plot(t, lm.mouth_opening(result.normalized_landmarks))
    ax[0].set(ylabel="mouth", title="Speech2Landmarks: mouth opening (normalized space)")
    ax[1].plot(t, lm.eye_aspect_ratio(result.normalized_landmarks).mean(1))
    ax[1].set(ylabel="eye AR", title="blinks (eye aspect ratio)")
    if result.gaze is not None:
        ax[2].plot(t, result.gaze, label=["x (image right)", "y (down)"])
        ax[2].legend(loc="upper right", fontsize=7)
    ax[2].set(ylabel="eye widths", title="gaze (iris offset)")
    ax[3].plot(t, result.pose - result.pose[:1], label=["yaw", "pitch", "roll"])
    ax[3].set(ylabel="degrees", title="head pose (relative to the photo)")
    ax[3].legend(loc="upper right", fontsize=7)
    motion = np.linalg.norm(result.keypoints - result.keypoints[:1], axis=-1)  # (T, K)
    ax[4].plot(t, motion)
    ax[4].set(ylabel="|kp - kp[0]|", xlabel="seconds", title="Landmarks2Latents keypoint motion")
    for a in ax:
        a.title.set_fontsize(9)
    fig.tight_layout()
    return fig


def run(animator: Animator, photo, audio, options: AnimateOptions, out_dir: str | Path) -> tuple[AnimateResult, Path, Path]:
    """Animate to out_dir/explore.mp4 and its side-by-side panels video; returns (result, video, panels)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = animator(photo, audio, options, stream_to=out_dir / "explore.mp4")
    return result, result.video, result.save_side_by_side(result.video)


def describe(options: AnimateOptions) -> str:
    """The settings a render used, in the words of the controls (shown after each render, and tested)."""
    return (f"emotion {options.emotion}, pose {options.pose}, seed {options.pose_seed}, blink {options.blink}, "
            f"gaze {options.gaze}")


def show(result: AnimateResult, video: Path, panels: Path, scale: int | None = None) -> None:
    """Display the traces, the side-by-side panels video and the result at a stated integer scale."""
    import matplotlib.pyplot as plt
    from IPython.display import HTML, Video, display

    size = int(media.probe(video, decode=False).width)
    scale = scale or max(1, 256 // size)  # small renders are enlarged by a whole factor, never blurred to fit
    fig = plot_intermediates(result)
    display(fig)
    plt.close(fig)
    display(HTML("<b>Stages</b>: normalized landmarks | posed landmarks on the photo | keypoints | output"),
            Video(str(panels), embed=True, width=768),
            HTML(f"<b>Result</b>: rendered at {size}x{size} px, shown at {scale}x ({size * scale} px), with sound"),
            Video(str(video), embed=True, width=size * scale))


def explorer(animator: Animator, photo, audio, out_dir: str | Path = "build/explore"):
    """An ipywidgets panel: the controls and an Animate button above a bounded output area (the controls stay on
    screen), a status line that says what is rendering and what was rendered."""
    import ipywidgets as w

    emotion = w.Dropdown(options=animator.emotions, value="happy" if "happy" in animator.emotions else None,
                         description="emotion")
    intensity = w.FloatSlider(value=0.7, min=0.0, max=1.0, step=0.05, description="intensity")
    pose = w.Dropdown(options=["predicted", "fixed"] if animator.posegen else ["fixed"], description="pose")
    seed = w.IntText(value=0, description="seed")
    blink = w.Text(value="auto", description="blink", placeholder="auto | off | 1.2,3.5")
    gaze_mode = w.Dropdown(options=["photo", "auto", "set"], value="photo", description="gaze")
    gaze_x = w.FloatSlider(value=0.0, min=-0.3, max=0.3, step=0.02, description="gaze x")
    gaze_y = w.FloatSlider(value=0.0, min=-0.15, max=0.15, step=0.01, description="gaze y")
    button = w.Button(description="Animate", button_style="primary", tooltip="render with the settings above")
    status = w.HTML(value="Set the controls and press Animate.")
    output = w.Output(layout=w.Layout(height="620px", overflow="auto", border="1px solid #ccc", padding="4px"))
    last: dict = {}

    def options() -> AnimateOptions:
        mix = f"{emotion.value}:{intensity.value}" if intensity.value > 0 else "neutral:1.0"
        gaze = f"{gaze_x.value},{gaze_y.value}" if gaze_mode.value == "set" else gaze_mode.value
        return AnimateOptions(emotion=mix, pose=pose.value, pose_seed=seed.value, blink=blink.value, gaze=gaze)

    def on_click(_=None):
        if button.disabled:  # a click that reached the kernel while a render ran
            return
        opts = options()  # the values shown when the button was pressed
        button.disabled, button.description, button.icon = True, "Rendering...", "spinner"
        status.value = f"Rendering with {describe(opts)} ..."
        try:
            with output:
                output.clear_output(wait=True)
                result, video, panels = run(animator, photo, audio, opts, out_dir)
                show(result, video, panels)
            last.update(options=opts, video=video, panels=panels)
            status.value = f"Rendered with {describe(opts)}"
        except AnimateError as e:
            status.value = f"<span style='color:#b00'>Not rendered: {e}</span>"
        finally:
            button.disabled, button.description, button.icon = False, "Animate", ""

    button.on_click(on_click)
    box = w.VBox([w.HBox([emotion, intensity]), w.HBox([pose, seed, blink]), w.HBox([gaze_mode, gaze_x, gaze_y]),
                  w.HBox([button, status]), output])
    box.controls = {"emotion": emotion, "intensity": intensity, "pose": pose, "seed": seed, "blink": blink,
                    "gaze": gaze_mode, "gaze_x": gaze_x, "gaze_y": gaze_y}
    box.options, box.animate, box.button, box.status, box.last = options, on_click, button, status, last
    return box
