"""Batch norm of the DeepLab-v2 configs (AdaptSegNet, PFR and their
source-only baselines) behaves as the AdaptSegNet reference: layers in
training mode (batch statistics, running statistics updated by the source
and the target forward of every step), affine parameters frozen."""
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmseg.registry import MODELS

import mmseg_uda  # noqa: F401
from tests.test_models.tiny_models import (
    build_adversarial_optim as build_optim,
)
from tests.test_models.tiny_models import tiny_deeplabv2_segmentor, uda_batch

MODEL_BASE = 'configs/_base_/models/deeplabv2_r101.py'
ZOO = [
    'configs/advseg/advseg_deeplabv2-r101_1xb1-150k_gta2cityscapes-512x512.py',
    'configs/advseg/'
    'advseg-single_deeplabv2-r101_1xb1-150k_gta2cityscapes-512x512.py',
    'configs/advseg/'
    'advseg_deeplabv2-r101_1xb1-150k_synthia2cityscapes-512x512.py',
    'configs/pfr/pfr_deeplabv2-r101_1xb1-150k_gta2cityscapes-512x512.py',
    'configs/source_only/deeplabv2_r101_1xb1-150k_gta2cityscapes-512x512.py',
    'configs/source_only/'
    'deeplabv2_r101_1xb1-150k_synthia2cityscapes-512x512.py',
]


@pytest.mark.parametrize('config', ZOO)
def test_zoo_configs_use_the_reference_bn(config):
    """Every AdaptSegNet/PFR config and its source-only baseline resolves to
    train-mode BN with frozen affine parameters (rules out a variant that
    still overrides the base with ``norm_eval=True`` or trainable BN)."""
    cfg = Config.fromfile(config)
    seg = cfg.model.get('segmentor', cfg.model)
    assert seg.backbone.norm_eval is False
    assert seg.backbone.norm_cfg == dict(type='BN', requires_grad=False)


def _reference_bn_segmentor(aux=False):
    """The tiny DeepLab-v2 with the BN settings of the zoo's model base."""
    base = Config.fromfile(MODEL_BASE).model.backbone
    seg = tiny_deeplabv2_segmentor(aux=aux)
    seg.backbone.update(norm_cfg=base.norm_cfg, norm_eval=base.norm_eval)
    return seg


def _bn_layers(module):
    return [m for m in module.modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def _snapshot(bns):
    return [{k: v.detach().clone() for k, v in (
        *bn.named_parameters(), *bn.named_buffers())} for bn in bns]


def _stem_bn_input(model, inputs):
    """Input of the first BN (stem conv output), with the current weights."""
    with torch.no_grad():
        return model.student.backbone.stem[0](inputs)


def _running_update(stat, x, momentum):
    """One BN running-statistics update from batch ``x`` (B, C, H, W)."""
    mean = x.mean((0, 2, 3))
    var = x.var((0, 2, 3), unbiased=True)
    return ((1 - momentum) * stat[0] + momentum * mean,
            (1 - momentum) * stat[1] + momentum * var)


@pytest.mark.parametrize('type,aux', [('AdaptSegNet', True), ('PFR', False)])
def test_uda_step_updates_running_stats_from_both_domains(type, aux):
    """One AdaptSegNet/PFR training step with the zoo's BN settings:

    - every BN's running mean and variance change, and the stem BN's equal
      two momentum updates, one with the target batch's statistics and one
      with the source batch's (rules out ``norm_eval=True``, i.e. frozen
      ImageNet statistics, and a target forward that leaves the running
      statistics alone, e.g. run in eval mode);
    - ``num_batches_tracked`` grows by exactly 2 (no extra forward feeds
      the statistics);
    - the affine weight and bias are frozen and unchanged while the
      convolutions train (rules out ``requires_grad=True``, and an
      optimizer that updates the frozen parameters anyway, e.g. by weight
      decay).
    """
    torch.manual_seed(0)
    cfg = dict(type=type, segmentor=_reference_bn_segmentor(aux=aux))
    if aux:
        cfg['aux_discriminator'] = dict(type='FCDiscriminator')
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    optim = build_optim(model)
    for wrapper in optim.values():  # frozen params must survive decay too
        for group in wrapper.optimizer.param_groups:
            group['weight_decay'] = 0.1
    bns = _bn_layers(model.student)
    assert bns and all(bn.training for bn in bns)
    assert not any(p.requires_grad for bn in bns for p in bn.parameters())
    before = _snapshot(bns)
    conv_before = model.student.backbone.stem[0].weight.detach().clone()

    batch = uda_batch(n=2, size=32)
    data = model.data_preprocessor(batch, True)
    x_src = _stem_bn_input(model, data['source']['inputs'])
    x_tgt = _stem_bn_input(model, data['target']['inputs'])
    model.train_step(batch, optim)

    after = _snapshot(bns)
    for b, a in zip(before, after):
        assert int(a['num_batches_tracked'] - b['num_batches_tracked']) == 2
        assert not torch.allclose(a['running_mean'], b['running_mean'])
        assert not torch.allclose(a['running_var'], b['running_var'])
        torch.testing.assert_close(a['weight'], b['weight'], rtol=0, atol=0)
        torch.testing.assert_close(a['bias'], b['bias'], rtol=0, atol=0)
    assert not torch.equal(model.student.backbone.stem[0].weight,
                           conv_before)

    stem_bn = model.student.backbone.stem[1]
    start = (before[0]['running_mean'], before[0]['running_var'])
    m = stem_bn.momentum
    # either order of the two domain forwards is the reference behaviour
    expected = [
        _running_update(_running_update(start, first, m), second, m)
        for first, second in ((x_tgt, x_src), (x_src, x_tgt))
    ]
    got = (stem_bn.running_mean, stem_bn.running_var)
    assert any(
        torch.allclose(got[0], e[0], atol=1e-5)
        and torch.allclose(got[1], e[1], rtol=1e-4, atol=1e-5)
        for e in expected)
    # ... and not one update with the source batch alone
    src_only = _running_update(start, x_src, m)
    assert not torch.allclose(got[0], src_only[0], atol=1e-5)


def test_source_only_step_updates_running_stats_not_affine():
    """The source-only DeepLab-v2 baseline with the zoo's BN settings: one
    training step updates the running statistics once and leaves the
    frozen affine parameters as they are (rules out ``norm_eval=True`` and
    trainable BN in the baseline the UDA methods are compared with)."""
    torch.manual_seed(0)
    model = MODELS.build(_reference_bn_segmentor())
    model.init_weights()
    model.train()
    optim = OptimWrapper(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.01,
        momentum=0.9, weight_decay=0.1))
    bns = _bn_layers(model)
    before = _snapshot(bns)
    model.train_step(uda_batch(n=2, size=32)['source'], optim)
    for b, a in zip(before, _snapshot(bns)):
        assert int(a['num_batches_tracked'] - b['num_batches_tracked']) == 1
        assert not torch.allclose(a['running_mean'], b['running_mean'])
        torch.testing.assert_close(a['weight'], b['weight'], rtol=0, atol=0)
        torch.testing.assert_close(a['bias'], b['bias'], rtol=0, atol=0)
    assert not any(p.requires_grad for bn in bns for p in bn.parameters())
