"""Ingest over fabricated VoxCeleb2 / MEAD / RAVDESS / folder layouts, bad files included."""
import hashlib

import pytest

from fabricate import make_layouts
from spacex.corpus import clip as clipfmt
from spacex.corpus import qc
from spacex.corpus.ingest import ingest


def _tree_hash(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
            h.update(str(p.stat().st_mtime_ns).encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def layouts(tiny_corpus, tmp_path_factory):
    row = clipfmt.read_manifest(tiny_corpus)[0]
    return make_layouts(tmp_path_factory.mktemp("datasets"), clipfmt.clip_paths(tiny_corpus, row["clip_id"])["video"])


def _run(layouts, layout, tmp_path):
    before = _tree_hash(layouts[layout])
    report = ingest(layout, layouts[layout], tmp_path / "out", workers=1, progress=False)
    assert _tree_hash(layouts[layout]) == before, "the source folder was modified"
    for row in clipfmt.read_manifest(tmp_path / "out"):  # every clip it kept is sound
        assert qc.check_clip(tmp_path / "out", row).ok
    return report, dict(report["skipped"]), {r["clip_id"]: r for r in clipfmt.read_manifest(tmp_path / "out")}


def test_voxceleb2(layouts, tmp_path):
    report, skipped, rows = _run(layouts, "voxceleb2", tmp_path)
    assert report["clips"] == 2 and report["copied"] == 2
    assert {r["speaker"] for r in rows.values()} == {"id00012"}
    assert sorted(float(r["fps"]) for r in rows.values()) == [25.0, 30.0]  # each clip keeps its own rate
    assert skipped["id00099/xyz/00001.mp4"] == "no audio stream"
    assert "id00099/xyz/00002.mp4" in skipped  # truncated
    assert skipped["id00099/notes.txt"].startswith("not a video file")


def test_a_given_rate_converts(layouts, tmp_path):
    report = ingest("voxceleb2", layouts["voxceleb2"], tmp_path / "out", fps=30.0, workers=1, progress=False)
    rows = clipfmt.read_manifest(tmp_path / "out")
    assert report["converted"] == 1 and all(float(r["fps"]) == 30.0 for r in rows)


def test_mead_labels_and_separate_audio(layouts, tmp_path):
    report, skipped, rows = _run(layouts, "mead", tmp_path)
    by_emotion = {r["emotion"]: r for r in rows.values()}
    assert set(by_emotion) == {"happy", "angry"}  # side view ignored; sad has no usable audio
    assert float(by_emotion["happy"]["intensity"]) == 1.0
    assert float(by_emotion["angry"]["intensity"]) == pytest.approx(2 / 3, abs=1e-3)  # audio muxed from .m4a
    assert skipped["M003/video/front/sad/level_1/002.mp4"] == "no audio stream"
    assert "W009/video/front/fear/level_2/004.mp4" in skipped
    assert "W009/video/front/fear/level_2/readme.pdf" in skipped


def test_neutral_is_encoded_as_at_inference():
    """MEAD's neutral exists at level 1 only and RAVDESS's at "normal" only: both become 1.0, the encoding of
    SynthTalk and of the inference default neutral:1.0; other emotions keep their level."""
    from spacex.corpus.ingest import intensity

    assert intensity("neutral", 1 / 3) == 1.0 and intensity("calm", 0.5) == 1.0 and intensity("neutral", 0.5) == 1.0
    assert intensity("happy", 1 / 3) == pytest.approx(0.3333) and intensity("sad", 0.5) == 0.5


def test_ravdess_codes(layouts, tmp_path):
    report, skipped, rows = _run(layouts, "ravdess", tmp_path)
    assert report["clips"] == 2
    for r in rows.values():
        assert (r["emotion"], float(r["intensity"]), r["speaker"]) == ("happy", 1.0, "actor01")
        assert r["text"] == "Kids are talking by the door."
    assert skipped["Actor_02/02-01-04-01-02-01-02.mp4"] == "no audio stream"  # video-only without twin
    assert "Actor_02/01-01-05-01-02-02-02.mp4" in skipped  # truncated
    assert "not a readable media file" in skipped["Actor_02/01-01-06-01-02-02-02.mp4"]
    assert (tmp_path / "out" / "skipped.csv").read_text().count("\n") == 1 + len(skipped)


def test_plain_folder(layouts, tmp_path):
    report, skipped, rows = _run(layouts, "folder", tmp_path)
    assert report["clips"] == 2 and {r["speaker"] for r in rows.values()} == {"alice"}
    assert list(skipped) == ["bob/photo.jpg"]


def test_destination_inside_source_is_refused(layouts):
    with pytest.raises(ValueError, match="outside the source"):
        ingest("folder", layouts["folder"], layouts["folder"] / "out", progress=False)
