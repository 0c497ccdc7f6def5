"""O3N: the three element encodings, the two fusions, the switches and ablations, and one
training step at the paper's sizes, so a GPU run starts clean."""

from __future__ import annotations

import pytest
import torch
from conftest import train_one_step

from ssvlib.data.datasets import TupleDataset
from ssvlib.data.transforms import dynamic_image, prepare, rank_pool_weights
from ssvlib.models.encoders import Small2D, build_encoder
from ssvlib.models.heads import ConcatHead, SumOfDifferencesHead
from ssvlib.papers import o3n
from ssvlib.tasks.o3n import O3N, uneven_motion_guess


def test_each_encoding_gives_the_encoder_its_own_input():
    x = torch.randint(0, 255, (2, 7, 3, 16, 16), dtype=torch.uint8)  # 2 elements of 7 frames
    frames = O3N(length=7, encoding="frames").element
    differences = O3N(length=6, encoding="differences").element
    dynamic = O3N(length=7, encoding="dynamic").element
    assert prepare(x, frames).shape == (2, 21, 16, 16) and frames.channels == 21
    assert prepare(x, differences).shape == (2, 18, 16, 16) and differences.channels == 18
    assert differences.frames_read == 7
    assert prepare(x, dynamic).shape == (2, 3, 16, 16) and dynamic.channels == 3
    with pytest.raises(ValueError, match="encoding='flow' is not valid; choose one of"):
        O3N(encoding="flow")


def test_the_dynamic_image_is_rank_pooling_of_the_frames():
    # Bilen et al. 2016: alpha_t = 2(T - t + 1) - (T + 1)(H_T - H_{t-1})
    assert torch.allclose(rank_pool_weights(3), torch.tensor([-4 / 3, 2 / 3, 2 / 3]))
    assert abs(float(rank_pool_weights(10).sum())) < 1e-4  # a still video gives a blank image
    still = torch.ones(5, 3, 8, 8)
    assert dynamic_image(still).abs().max() < 1e-3
    moving = torch.zeros(5, 3, 8, 8)
    for t in range(5):
        moving[t, :, :, t + 2] = 1.0  # a bright column moving right
    image = dynamic_image(moving)
    assert image.abs().max() == pytest.approx(1.0)
    assert image[0, 0, 6] > 0 > image[0, 0, 2]  # where it ends is bright, where it began dark
    assert not torch.allclose(dynamic_image(moving.flip(0)), image)  # the order shows


@pytest.mark.parametrize("fusion, head", [("sum_of_differences", SumOfDifferencesHead),
                                          ("concat", ConcatHead)])  # fmt: skip
def test_both_fusions_answer_which_element_is_odd(fusion, head):
    recipe = o3n.with_switches(o3n.PRESETS["cpu"], fusion=fusion)
    channels = recipe.task.element.channels
    model = o3n.build_model(Small2D(in_channels=channels), recipe)
    assert isinstance(model.head, head)
    assert model.head.dropout.p == 0.5  # both fusions drop alike before the classifier
    x = torch.randint(0, 255, (2, 6, 7, 3, 32, 32), dtype=torch.uint8)
    assert model(x).shape == (2, 6)


def test_switches_and_ablations_name_what_they_change():
    base = o3n.PRESETS["cpu"]
    dynamic = o3n.with_switches(base, encoding="dynamic")
    assert dynamic.task.encoding == "dynamic" and dynamic.eval_element == dynamic.task.element
    assert o3n.with_switches(base, num_elements=4).task.num_classes == 4
    with pytest.raises(ValueError, match="fusion='max' is not valid"):
        o3n.with_switches(base, fusion="max")
    variants = o3n.ablations(base, epochs=3)
    assert list(variants) == [
        "stack of frames, sum of differences",
        "stack of frames, concatenation",
        "stack of differences, sum of differences",
        "stack of differences, concatenation",
        "dynamic image, sum of differences",
    ]
    assert all(r.pretext.epochs == 3 for r in variants.values())
    channels = {r.task.element.channels for r in o3n.baselines(base).values()}
    assert channels == {18, 3}  # six frames or six differences: 18; one dynamic image: 3


def test_paper_preset_trains_one_step(ucf_sized_video):
    recipe = o3n.PRESETS["paper"]
    task = recipe.task
    assert (task.num_elements, task.length, task.encoding) == (6, 6, "differences")
    data = TupleDataset([ucf_sized_video], task, recipe.view, seed=0)
    x, label = data[0]
    assert x.shape == (6, 7, 3, 227, 227) and 0 <= label < 6
    torch.manual_seed(0)
    model = o3n.build_model(build_encoder("caffenet", in_channels=18), recipe)
    other = data[1 % len(data)] if len(data) > 1 else TupleDataset(
        [ucf_sized_video], task, recipe.view, seed=1)[0]  # fmt: skip
    batch = torch.stack([x, other[0]])  # batch norm needs two questions
    assert model(batch).shape == (2, 6)
    train_one_step(model, batch, torch.tensor([label, other[1]]), recipe.pretext.optim)


def test_the_uneven_motion_rule_finds_a_shuffled_element_of_a_steady_motion():
    frames = torch.zeros(6, 3, 8, 24, dtype=torch.uint8)
    for t in range(6):
        frames[t, :, :, t : t + 10] = 255  # a wide bar moving right, a pixel a frame
    question = torch.stack([frames] * 4)
    question[2] = frames[[0, 3, 1, 5, 2, 4]]  # the odd one: same frames, shuffled
    assert uneven_motion_guess(question) == 2
