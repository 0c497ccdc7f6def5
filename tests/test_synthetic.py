"""The built-in dataset's renderer and encoder: motion carries the class, seeds fix the pixels."""

from __future__ import annotations

import av
import numpy as np
import pytest

from ssvlib.data import synthetic
from ssvlib.data.decode import read_all_frames

SETTINGS = synthetic.Settings(
    groups=4, clips_per_group=(1, 2), frames=(64, 66), height=32, width=40
)


def test_written_video_is_xvid_avi_at_25_fps_with_a_keyframe_every_12(tmp_path):
    rendered = synthetic.render_video("Pendulum", group=2, clip=1, seed=3, settings=SETTINGS)
    path = tmp_path / "v_Pendulum_g02_c01.avi"
    synthetic.write_avi(path, rendered)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert container.format.name == "avi"
        assert stream.codec_context.name == "mpeg4"
        assert stream.codec_context.codec_tag.upper() == "XVID"
        assert stream.average_rate == 25
        keyframes = [i for i, p in enumerate(container.demux(stream)) if p.is_keyframe and p.size]
    assert keyframes[:3] == [0, 12, 24]
    decoded = read_all_frames(path, "pyav")
    assert decoded.shape == rendered.shape
    assert SETTINGS.frames[0] <= len(decoded) <= SETTINGS.frames[1]
    assert np.abs(decoded.astype(int) - rendered).mean() < 8  # codec loss only


def test_writing_the_same_frames_twice_gives_the_same_bytes(tmp_path):
    frames = synthetic.render_video("Orbit", 1, 1, seed=0, settings=SETTINGS)
    synthetic.write_avi(tmp_path / "a.avi", frames)
    synthetic.write_avi(tmp_path / "b.avi", frames)
    assert (tmp_path / "a.avi").read_bytes() == (tmp_path / "b.avi").read_bytes()


def test_same_seed_same_pixels_and_different_seeds_differ():
    a = synthetic.render_video("Spin", 1, 1, seed=0, settings=SETTINGS)
    np.testing.assert_array_equal(a, synthetic.render_video("Spin", 1, 1, 0, SETTINGS))
    b = synthetic.render_video("Spin", 1, 1, seed=1, settings=SETTINGS)
    assert a.shape != b.shape or np.abs(a.astype(int) - b).mean() > 5


def test_appearance_belongs_to_the_group_not_the_class():
    def colour(cls: str, group: int) -> np.ndarray:
        """Mean colour of a video's per-pixel median over time (mostly background)."""
        return np.median(synthetic.render_video(cls, group, 1, 0, SETTINGS), axis=0).mean((0, 1))

    same_group = np.abs(colour("Spin", 1) - colour("Shatter", 1)).max()
    other_groups = [np.abs(colour("Spin", 1) - colour("Spin", g)).max() for g in (2, 3, 4)]
    assert same_group < min(other_groups)


def test_every_class_moves_its_object():
    for cls in synthetic.CLASSES:
        video = synthetic.render_video(cls, 2, 1, 0, SETTINGS).astype(int)
        change = np.abs(video[8:] - video[:-8]).mean(-1) > 40  # pixels that changed a lot
        assert change.mean() > 0.005, f"{cls} barely moves"


def test_bad_class_and_settings_are_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="class_name='Juggling'.*'BounceToRest'"):
        synthetic.render_video("Juggling")
    with pytest.raises(ValueError, match="groups"):
        synthetic.Settings(groups=2)
    with pytest.raises(ValueError, match="even"):
        synthetic.Settings(height=33)
