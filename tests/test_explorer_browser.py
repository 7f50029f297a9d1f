"""The explorer as a user sees it: JupyterLab on 127.0.0.1, driven by headless Chromium through selenium.

Run all cells of notebooks/41_explore.ipynb (parameterized with papermill's own injection, pointing at tiny
checkpoints), change widgets, press Animate, and check: the button is busy while rendering, the plot and both
videos appear, and the settings the status line says were rendered equal the widgets'. Screenshots go to
build/browser-check/. Needs Debian's chromium and chromium-driver and the `browser` extra: `make browser-check`.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "build" / "browser-check"  # inside the repo, so the notebook finds params.yaml; git-ignored
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def notebook(tmp_path_factory) -> Path:
    """41_explore.ipynb with its parameters set to tiny checkpoints and real TTS speech."""
    import nbformat
    import numpy as np
    import torch
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from spacex import checkpoint, media
    from spacex.tts import synthesize
    from spacex.models.fv2v.model import FaceVid2Vid
    from spacex.models.l2l import Landmarks2Latents
    from spacex.models.posegen import PoseGen
    from spacex.models.s2l import Speech2Landmarks

    tmp = tmp_path_factory.mktemp("explore")
    torch.manual_seed(0)
    for name, net in (("fv2v", FaceVid2Vid(resolution=64, num_kp=4, base=8, volume_channels=4, depth=4,
                                           generator_blocks=1, use_vgg=False)),
                      ("s2l", Speech2Landmarks(audio_dim=16, landmark_dim=8, hidden=16)),
                      ("l2l", Landmarks2Latents(num_kp=4, landmark_dim=8, audio_dim=8, source_dim=8, hidden=16)),
                      ("posegen", PoseGen(audio_dim=8, noise_dim=4, hidden=16))):
        checkpoint.save(tmp / "runs" / name / "last.pt", {"model_args": net.args.to_dict(), "model": net.state_dict()})
    u = synthesize("Please bring me my umbrella.", "en-us+f3")
    wav = media.write_wav(tmp / "speech.wav", np.asarray(u.audio), u.sample_rate)
    nb = load_notebook_node(str(REPO / "notebooks" / "41_explore.ipynb"))  # as papermill reads it
    nb = parameterize_notebook(nb, {"runs": str(tmp / "runs"), "audio": str(wav), "out_dir": str(tmp / "out")})
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    path = WORK / "explore.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def lab(notebook, tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 serving the notebook's folder; yields its URL (with the token)."""
    port, token = _free_port(), "spacex-browser-check"
    home = tmp_path_factory.mktemp("jupyter")
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "run"),
           "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    log = open(WORK / "jupyterlab.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                             f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
                             f"--ServerApp.root_dir={WORK}", "--LabApp.news_url=", "--ServerApp.open_browser=False"]
                            + (["--allow-root"] if os.geteuid() == 0 else []),
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    import urllib.request

    t0 = time.time()
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)  # noqa: S310 (loopback)
            break
        except OSError:
            assert proc.poll() is None and time.time() - t0 < 90, (WORK / "jupyterlab.log").read_text()[-2000:]
            time.sleep(0.5)
    yield f"{url}/lab/tree/{notebook.name}?token={token}"
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and DRIVER):
        pytest.skip("needs Debian's chromium and chromium-driver (make browser-check installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1500",
                "--autoplay-policy=no-user-gesture-required"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield driver
    driver.quit()


def _widget(driver, kind: str, label: str):
    """The ipywidgets control of class widget-KIND whose description label reads `label`."""
    from selenium.webdriver.common.by import By

    return driver.find_element(By.XPATH, f"//div[contains(@class,'widget-{kind}')][.//label[normalize-space()="
                                         f"'{label}']]")


@pytest.fixture
def last_screen(browser):
    yield
    browser.save_screenshot(str(WORK / "last_screen.png"))  # where the browser was when the test ended


def test_explorer_in_jupyterlab(lab, browser, last_screen):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait

    d = browser
    d.get(lab)
    wait = WebDriverWait(d, 180)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".jp-NotebookPanel .jp-Cell")))
    wait.until(EC.presence_of_element_located((By.XPATH, "//*[contains(@class,'jp-Notebook-ExecutionIndicator')"
                                                         " and @data-status='idle']")))
    time.sleep(2)  # JupyterLab may still open its "Select Kernel" dialog for a new session: accept the default
    for accept in d.find_elements(By.CSS_SELECTOR, ".jp-Dialog .jp-Dialog-button.jp-mod-accept"):
        accept.click()
        wait.until(EC.invisibility_of_element_located((By.CSS_SELECTOR, ".jp-Dialog")))
    # Run > Run All Cells
    d.find_element(By.XPATH, "//div[contains(@class,'lm-MenuBar-itemLabel') and normalize-space()='Run']").click()
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "li[data-command='runmenu:run-all']"))).click()
    button = wait.until(EC.presence_of_element_located((By.XPATH, "//button[normalize-space()='Animate']")))
    for no in d.find_elements(By.XPATH, "//button[normalize-space()='No']"):  # JupyterLab's news prompt
        no.click()
    d.execute_script("arguments[0].scrollIntoView({block: 'start'})", _widget(d, "dropdown", "emotion"))
    d.save_screenshot(str(WORK / "1_controls.png"))

    # One change of each kind: a dropdown, a slider typed into its readout, another dropdown.
    Select(_widget(d, "dropdown", "emotion").find_element(By.TAG_NAME, "select")).select_by_visible_text("sad")
    readout = _widget(d, "slider", "intensity").find_element(By.CSS_SELECTOR, ".widget-readout")
    readout.click()
    readout.send_keys(Keys.CONTROL, "a")
    readout.send_keys("0.2", Keys.ENTER)
    Select(_widget(d, "dropdown", "pose").find_element(By.TAG_NAME, "select")).select_by_visible_text("fixed")
    shown = float(_widget(d, "slider", "intensity").find_element(By.CSS_SELECTOR, ".widget-readout").text)
    assert shown == pytest.approx(0.2)

    button.click()
    busy, t0 = False, time.time()
    while time.time() - t0 < 20 and not busy:  # the button says it is busy and takes no clicks
        busy = not button.is_enabled() and "Rendering" in button.text
        time.sleep(0.02)
    assert busy, "the button did not show a busy state while rendering"
    status = WebDriverWait(d, 240).until(lambda drv: next(
        (e.text for e in drv.find_elements(By.XPATH, "//div[contains(@class,'widget-html')]")
         if e.text.startswith(("Rendered with", "Not rendered"))), None))
    assert status.startswith("Rendered with"), status
    assert f"emotion sad:{shown}" in status and "pose fixed" in status  # what was rendered = what was shown
    assert button.is_enabled() and button.text.strip() == "Animate"

    out = d.find_element(By.CSS_SELECTOR, ".widget-output")
    plot = out.find_elements(By.CSS_SELECTOR, "img")
    videos = out.find_elements(By.CSS_SELECTOR, "video")
    assert plot and plot[0].size["height"] > 200, "no plot"
    assert len(videos) == 2 and videos[1].size["width"] == 256  # the 64 px result shown at 4x, as stated
    assert "shown at 4x (256 px)" in out.text
    seek = """const [v, done] = [arguments[0], arguments[arguments.length - 1]];
              v.muted = true; v.addEventListener('seeked', () => done([v.videoWidth, v.readyState]), {once: true});
              v.currentTime = 0.5;"""
    d.set_script_timeout(60)
    decoded = [d.execute_async_script(seek, v) for v in videos]  # the browser decodes both mp4s (H.264 + AAC)
    assert [w for w, _ in decoded] == [4 * 256, 64] and all(state >= 2 for _, state in decoded), decoded
    d.execute_script("arguments[0].scrollIntoView({block: 'start'})", _widget(d, "dropdown", "emotion"))
    d.save_screenshot(str(WORK / "2_after_render_plot.png"))
    d.execute_script("arguments[0].scrollTop = arguments[0].scrollHeight", out)  # the output area scrolls, the
    d.save_screenshot(str(WORK / "3_after_render_videos.png"))                   # controls stay on screen
    assert _widget(d, "dropdown", "emotion").is_displayed()
