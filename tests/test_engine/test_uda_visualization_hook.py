"""The UDA debug hook renders the recorded step through the visualizer."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmseg.registry import MODELS

import mmseg_uda  # noqa: F401
from mmseg_uda.engine.hooks import UDAVisualizationHook
from mmseg_uda.engine.hooks.uda_visualization_hook import render_debug_grid
from tests.test_models.tiny_models import tiny_dacs, uda_batch


class RecordingVisualizer:

    def __init__(self):
        self.images = []

    def add_image(self, name, image, step=0):
        self.images.append((name, image, step))


def test_hook_records_every_interval_and_draws_grids():
    torch.manual_seed(0)
    model = MODELS.build(tiny_dacs(imnet_feature_dist=None))
    model.init_weights()
    model.train()
    wrapper = OptimWrapper(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.01))
    palette = [[i * 60 % 256, 0, 0] for i in range(4)]
    runner = SimpleNamespace(
        model=model, iter=0, visualizer=RecordingVisualizer(),
        train_dataloader=SimpleNamespace(dataset=SimpleNamespace(
            metainfo=dict(palette=palette))))
    hook = UDAVisualizationHook(interval=2, max_samples=2)
    for it in range(4):
        runner.iter = it
        hook.before_train_iter(runner, it)
        assert model.record_debug == ((it + 1) % 2 == 0)
        model.train_step(uda_batch(), wrapper)
        hook.after_train_iter(runner, it)
        assert model.record_debug is False
    steps = [s for _, _, s in runner.visualizer.images]
    assert steps == [2, 2, 4, 4]
    name, grid, _ = runner.visualizer.images[0]
    # 8 panels of 32x32: source/target/mixed images, 3 label maps,
    # pseudo weight and mix mask
    assert name == 'uda_debug_0' and grid.shape == (32, 32 * 8, 3)
    assert grid.dtype == np.uint8


def test_render_panels():
    mean = torch.zeros(3, 1, 1)
    std = torch.ones(3, 1, 1)
    debug = dict(
        a_image=torch.full((1, 3, 2, 2), 10.0),
        b_label=torch.tensor([[[[0, 1], [255, 1]]]]),
        weight=torch.tensor([[[[0.0, 1.0], [0.5, 1.0]]]]))
    palette = np.array([[1, 2, 3], [4, 5, 6]], np.uint8)
    (grid, ) = render_debug_grid(debug, palette, mean, std)
    assert grid.shape == (2, 6, 3)
    assert grid[0, 0].tolist() == [10, 10, 10]
    assert grid[0, 2].tolist() == [1, 2, 3]
    assert grid[1, 2].tolist() == [0, 0, 0]
    assert grid[0, 5].tolist() == [255, 255, 255]
    assert grid[1, 4].tolist() == [127, 127, 127]


def test_bad_interval():
    with pytest.raises(ValueError, match='interval'):
        UDAVisualizationHook(interval=0)
