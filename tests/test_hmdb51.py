"""The HMDB-51 index: the official split files, read as published, on the real files in CI."""

from __future__ import annotations

import pytest
from conftest import real_hmdb51_root

from ssvlib.data import hmdb51
from ssvlib.data.decode import read_frames, video_info
from ssvlib.data.hmdb51 import HMDB51Error, load_split, source_title
from ssvlib.data.index import present

real_root = real_hmdb51_root


needs_real = pytest.mark.skipif(
    real_root() is None,
    reason="no real HMDB-51 split files: set SSV_REAL_HMDB51 to a root holding "
    "testTrainMulti_7030_splits/ and videos/ (CI uses ../shared/hmdb51)",
)


@needs_real
@pytest.mark.parametrize("split", [1, 2, 3])
def test_every_official_split_has_51_classes_and_3570_train_1530_test(split):
    index = load_split(real_root(), split)
    assert len(index.classes) == 51 and index.classes == sorted(index.classes)
    assert (len(index.train), len(index.test)) == (3570, 1530)
    for label, action in enumerate(index.classes):
        mine = [r for r in index.train if r.label == label]
        assert len(mine) == 70 and all(r.class_name == action for r in mine)
    assert not {r.rel for r in index.train} & {r.rel for r in index.test}


@needs_real
def test_present_clips_are_found_and_decode_with_names_as_published():
    index = load_split(real_root(), 1)
    found = present(index.train + index.test)
    assert len(found) >= 1 and len(index.missing) == 5100 - len(found)
    assert any("+" in r.rel or "!" in r.rel for r in found) or len(found) < 6
    for record in found:  # the last frame too: the header announces one frame more
        last = video_info(record.path).num_frames - 1
        assert read_frames(record.path, [0, last]).shape[0] == 2


@needs_real
def test_clips_of_one_source_video_share_a_group():
    index = load_split(real_root(), 1)
    records = index.train + index.test
    by_title = {}
    for r in records:
        by_title.setdefault(source_title(r.rel, r.class_name), set()).add(r.group)
    assert all(len(groups) == 1 for groups in by_title.values())
    assert len({r.group for r in records}) == len(by_title) > 1000


def test_bad_roots_and_lines_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(HMDB51Error, match="has no testTrainMulti_7030_splits/ folder"):
        load_split(tmp_path, 1)
    folder = tmp_path / hmdb51.SPLIT_DIR
    folder.mkdir()
    (folder / "run_test_split1.txt").write_text("a_run_f_nm_np1_fr_med_0.avi 1 \n")
    with pytest.raises(HMDB51Error, match="names 1 actions"):
        load_split(tmp_path, 1)
    with pytest.raises(HMDB51Error, match="split=4 is not valid"):
        load_split(tmp_path, 4)


def test_source_title_is_what_precedes_the_action():
    name = "Golf_Tips_-_Hit_The_Driver_300+_Yards!!!_golf_f_nm_np1_fr_med_0.avi"
    assert source_title(name, "golf") == "Golf_Tips_-_Hit_The_Driver_300+_Yards!!!"
