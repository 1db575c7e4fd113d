"""Each default that follows the released code (docs/methods.md says which commit), pinned."""

import numpy as np
import pytest
import torch
from PIL import Image

from rdjax import recipes
from rdjax.data.augmentations import perlin
from rdjax.methods.bidirectional import Bidirectional, repository_map
from rdjax.methods.rdpp import contrast_loss
from rdjax.methods.two_stage import TwoStageRKD
from rdjax.train.default_config import base_config
from rdjax.train.trainer import steps_per_epoch
from tests.tiny_config import with_small_teacher


def small(method):
    return with_small_teacher(recipes.method_config(method))


def test_every_paper_recipe_trains_on_all_normal_images():
    for method in recipes.METHODS:
        assert recipes.method_config(method).threshold.holdout_fraction == 0.0, method


def test_epochs_end_with_a_partial_batch():
    assert base_config().train.partial_batches is True


def test_rdpp_contrast_margin_is_plus_half_as_at_head():
    margin = recipes.method_config("rdpp").rdpp.contrast_margin
    assert margin == 0.5
    rng = np.random.default_rng(0)
    a = [rng.normal(size=(4, 3, 5, 5)).astype(np.float32) for _ in range(2)]
    b = [x + 0.3 * rng.normal(size=x.shape).astype(np.float32) for x in a]  # cosines ≈ 0.95
    ref = sum(float(torch.nn.CosineEmbeddingLoss(margin=0.5)(
        torch.from_numpy(x.reshape(4, -1)), torch.from_numpy(y.reshape(4, -1)), -torch.ones(4)))
        for x, y in zip(a, b))
    got = float(contrast_loss([np.transpose(x, (0, 2, 3, 1)) for x in a],
                              [np.transpose(y, (0, 2, 3, 1)) for y in b], margin))
    assert ref > 0.5 and got == pytest.approx(ref, rel=1e-5)


def test_mrkd_masks_features_at_test_time_as_released():
    assert recipes.method_config("mrkd").mrkd.mask_at_test is True


def test_rde_runs_ungated_as_released():
    from rdjax.methods.rde import RDE

    config = small("rde")
    assert config.rde.gated is False and config.rde.texture_root == ""
    assert RDE(config).skip_decoder.gated is False


def test_two_stage_splits_the_run_it_is_given():
    config = small("two_stage")
    assert config.two_stage.stage1_steps == -1
    method = TwoStageRKD(config)
    with pytest.raises(ValueError, match="stage1_steps=-1"):
        method.loss(None, None, None, {"image": np.zeros((1, 32, 32, 3), np.uint8)}, None)
    config.dataset.image_size = 256
    method.set_schedule(steps_per_epoch(config, 209, num_devices=1), 2800)
    assert method.stage1_steps == 1400
    config.two_stage.stage1_steps = 10  # a number is kept
    fixed = TwoStageRKD(config)
    fixed.set_schedule(14, 2800)
    assert fixed.stage1_steps == 10


def test_bidirectional_dwa_window_is_an_epoch_of_the_data():
    config = small("bidirectional")
    assert config.bidirectional.window_steps == 0
    assert config.bidirectional.map_rule == "cosine"
    method = Bidirectional(config)
    method.set_schedule(steps_per_epoch(config, 209, num_devices=1), 2800)
    assert method.window_steps == 14  # 13 full batches of 16 and one of 1


def test_repository_map_rule_matches_a_pytorch_transcription():
    """|S − T|, channel weights = spatial mean, weighted channel mean, align_corners
    upsampling, min-max per image, mean over scales (Cariaaaaaa/Anomaly-Detection test.py)."""
    rng = np.random.default_rng(1)
    shapes = [(2, 8, 8, 6), (2, 4, 4, 10)]
    teacher = [rng.normal(size=s).astype(np.float32) for s in shapes]
    student = [rng.normal(size=s).astype(np.float32) for s in shapes]
    maps = []
    for t, s in zip(teacher, student):
        d = torch.from_numpy(np.abs(s - t)).permute(0, 3, 1, 2)  # NCHW
        w = d.mean(dim=(2, 3), keepdim=True)
        m = (d * w).mean(dim=1, keepdim=True)
        m = torch.nn.functional.interpolate(m, size=32, mode="bilinear", align_corners=True)[:, 0]
        lo, hi = m.amin(dim=(1, 2), keepdim=True), m.amax(dim=(1, 2), keepdim=True)
        maps.append((m - lo) / (hi - lo))
    want = (sum(maps) / len(maps)).numpy()
    got = np.asarray(repository_map(teacher, student, 32))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_texture_folder_bank(tmp_path):
    sources = []
    for i in range(3):
        a = np.random.default_rng(i).integers(0, 256, (20 + i, 30, 3), dtype=np.uint8)
        folder = tmp_path / f"class{i}"
        folder.mkdir()
        Image.fromarray(a).save(folder / f"t{i}.png")
        sources.append(np.asarray(Image.fromarray(a).resize((16, 16), Image.BILINEAR)))
    (tmp_path / "notes.txt").write_text("not an image")
    bank = perlin.folder_texture_bank(str(tmp_path), 16, count=5, seed=0)
    assert bank.shape == (3, 16, 16, 3) and bank.dtype == np.uint8  # every image, once
    variants = [np.rot90(s, k)[:, ::f] for s in sources for k in range(4) for f in (1, -1)]
    for texture in bank:
        assert any(np.array_equal(texture, v) for v in variants)
    assert len({t.tobytes() for t in bank}) == 3
    config = small("rde").rde
    config.texture_root, config.num_textures = str(tmp_path), 2
    assert perlin.texture_source(config, 16).shape == (2, 16, 16, 3)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        perlin.folder_texture_bank(str(empty), 16)
