"""PFR: Gram matrices and the style/content losses against hand-computed
values, feature capture and the joint generator backward."""
import math

import pytest
import torch
from mmengine.config import ConfigDict
from mmseg.registry import MODELS

import mmseg_uda  # noqa: F401
from mmseg_uda.models.losses import PFRLoss, gram_matrix, pairwise_distance
from tests.test_models.tiny_models import (
    build_adversarial_model as build_model,
)
from tests.test_models.tiny_models import (
    build_adversarial_optim as build_optim,
)
from tests.test_models.tiny_models import tiny_deeplabv2_segmentor, uda_batch

# One image, 2 channels, 1x2 positions: channel a = [1, 2], b = [3, 4].
SRC = torch.tensor([[[[1., 2.]], [[3., 4.]]]])
# channel a = [1, 0], b = [0, 1]
TGT = torch.tensor([[[[1., 0.]], [[0., 1.]]]])


def test_gram_matrix_by_hand():
    # F F^T = [[1+4, 3+8], [3+8, 9+16]]
    raw = torch.tensor([[[5., 11.], [11., 25.]]])
    torch.testing.assert_close(gram_matrix(SRC, 'none'), raw)
    torch.testing.assert_close(gram_matrix(SRC, 'hw'), raw / 2)
    torch.testing.assert_close(gram_matrix(SRC), raw / 4)  # C*H*W = 4
    torch.testing.assert_close(gram_matrix(TGT, 'none'), torch.eye(2)[None])
    batch = torch.cat([SRC, TGT])
    assert gram_matrix(batch).shape == (2, 2, 2)
    torch.testing.assert_close(gram_matrix(batch)[1], torch.eye(2) / 4)
    with pytest.raises(ValueError, match='normalize'):
        gram_matrix(SRC, 'c')


def test_pairwise_distances_by_hand():
    a = torch.tensor([[3., 4.], [0., 0.]])
    b = torch.zeros(2, 2)
    torch.testing.assert_close(pairwise_distance(a, b, 'l2'),
                               torch.tensor([5., 0.]))
    torch.testing.assert_close(pairwise_distance(a, b, 'rms'),
                               torch.tensor([5. / math.sqrt(2), 0.]))
    torch.testing.assert_close(pairwise_distance(a, b, 'mse'),
                               torch.tensor([12.5, 0.]))
    # zero distance: finite zero gradient (not NaN)
    x = torch.zeros(1, 3, requires_grad=True)
    pairwise_distance(x, torch.zeros(1, 3)).sum().backward()
    assert torch.all(x.grad == 0)
    with pytest.raises(ValueError, match='shapes'):
        pairwise_distance(a, torch.zeros(2, 3))


def test_style_and_content_losses_by_hand():
    # Gram (chw): S^s = [[1.25, 2.75], [2.75, 6.25]], S^t = I/4;
    # difference [[1, 2.75], [2.75, 6]] -> squared sum 1 + 2*7.5625 + 36.
    sty = math.sqrt(52.125)
    # content difference [[0, 2], [3, 3]] -> squared sum 22
    con = math.sqrt(22.0)
    loss = PFRLoss(loss_weight=1.0)
    out = loss([SRC], [TGT])
    torch.testing.assert_close(out['loss_sty'], torch.tensor(sty))
    torch.testing.assert_close(out['loss_con'], torch.tensor(con))
    # summed over levels, averaged over image pairs, times loss_weight
    loss = PFRLoss(loss_weight=0.004)
    src = [torch.cat([SRC, TGT]), 2 * SRC.expand(2, 2, 1, 2)]
    tgt = [torch.cat([TGT, TGT]), torch.zeros(2, 2, 1, 2)]
    out = loss(src, tgt)
    # level 2: gram(2*SRC) = 4*S^s vs 0 -> 4*||S^s||; content 2*||SRC||
    s_norm = math.sqrt(1.25**2 + 2 * 2.75**2 + 6.25**2)
    exp_sty = (sty + 0) / 2 + 4 * s_norm
    exp_con = (con + 0) / 2 + 2 * math.sqrt(30.0)
    torch.testing.assert_close(out['loss_sty'],
                               torch.tensor(0.004 * exp_sty))
    torch.testing.assert_close(out['loss_con'],
                               torch.tensor(0.004 * exp_con))
    # options: Gram by H*W, mean squared content error, relative weights
    loss = PFRLoss(gram_norm='hw', style_distance='mse',
                   content_distance='rms', style_weight=2.0,
                   content_weight=0.5, loss_weight=1.0)
    out = loss([SRC], [TGT])
    # hw Gram: S^s = [[2.5, 5.5], [5.5, 12.5]], S^t = I/2
    diff = torch.tensor([[2.0, 5.5], [5.5, 12.0]])
    torch.testing.assert_close(out['loss_sty'], 2.0 * diff.pow(2).mean())
    torch.testing.assert_close(out['loss_con'],
                               torch.tensor(0.5 * math.sqrt(22.0 / 4)))


def test_pfr_loss_checks():
    loss = PFRLoss()
    with pytest.raises(ValueError, match='number of'):
        loss([SRC], [])
    with pytest.raises(ValueError, match='batch size'):
        loss([SRC], [torch.cat([TGT, TGT])])
    with pytest.raises(ValueError, match='one size'):
        loss([SRC], [torch.zeros(1, 2, 2, 2)])
    # style only: sizes may differ (Gram matrices are C x C)
    out = PFRLoss(content_weight=0.0)([SRC], [torch.zeros(1, 2, 3, 3)])
    assert out['loss_con'] == 0 and out['loss_sty'] > 0
    with pytest.raises(ValueError, match='gram_norm'):
        PFRLoss(gram_norm='batch')
    with pytest.raises(ValueError, match='content_distance'):
        PFRLoss(content_distance='l1')


def build_pfr(**kwargs):
    return build_model(type='PFR', **kwargs)


def test_pfr_model_defaults_and_feature_layers():
    model = build_pfr()
    assert model.lambda_adv == 0.002
    assert model.pfr_loss.loss_weight == 0.004
    assert model.joint_generator_backward
    backbone = model.student.backbone
    assert model._feature_modules() == [
        backbone.layer1[-1], backbone.layer2[-1], backbone.layer3[-1],
        backbone.layer4[-1]
    ]
    first = build_pfr(feature_stages=(1, 3), feature_block=0)
    assert first._feature_modules() == [
        first.student.backbone.layer2[0], first.student.backbone.layer4[0]
    ]
    with pytest.raises(ValueError, match='stage 4'):
        build_pfr(feature_stages=(4, ))
    with pytest.raises(ValueError, match='feature_block'):
        build_pfr(feature_block=2)  # ResNet-18 stages have 2 blocks
    cfg = ConfigDict(type='PFR', segmentor=tiny_deeplabv2_segmentor())
    cfg.segmentor.backbone = dict(
        type='MixVisionTransformer', in_channels=3, embed_dims=8,
        num_layers=[1, 1, 1, 1], num_heads=[1, 2, 4, 8])
    with pytest.raises(TypeError, match='res_layers'):
        MODELS.build(cfg)


def test_pfr_losses_use_stage_outputs_of_the_training_forward():
    model = build_pfr()
    optim = build_optim(model)
    batch = uda_batch(n=2, size=32)
    data = model.data_preprocessor(batch, True)
    with torch.no_grad():  # BN in train mode: batch statistics, same output
        src_feats = model.student.backbone(data['source']['inputs'])
        tgt_feats = model.student.backbone(data['target']['inputs'])
        expected = model.pfr_loss(list(src_feats), list(tgt_feats))
    calls = []
    backbone_forward = model.student.backbone.forward
    model.student.backbone.forward = lambda x: calls.append(1) or \
        backbone_forward(x)
    logs = model.train_step(batch, optim)
    assert len(calls) == 2  # one forward per domain, no extra one
    torch.testing.assert_close(logs['pfr.loss_sty'], expected['loss_sty'])
    torch.testing.assert_close(logs['pfr.loss_con'], expected['loss_con'])
    assert logs['pfr.loss_con'] > 0
    assert {'src.decode.loss_ce', 'tgt.loss_adv', 'disc.src_loss',
            'disc.tgt_loss'} <= set(logs)


@pytest.mark.parametrize('align', ['source_to_target', 'both'])
def test_pfr_gradient_is_the_sum_of_the_terms(align):
    """The joint backward equals the gradient of L_seg + 0.002 L_adv +
    0.004 L_pfr, with the target side of L_pfr detached under the default
    direction (rules out a model that ignores ``align`` or detaches the
    wrong side), and the alignment term changes the backbone gradient."""
    model = build_pfr(align=align)
    optim = build_optim(model)
    data = model.data_preprocessor(uda_batch(n=2, size=32), True)
    src, tgt = data['source'], data['target']
    model.generator_step(src['inputs'], src['data_samples'], tgt['inputs'],
                         tgt['data_samples'], optim['student'])
    joint = {k: p.grad.clone() for k, p in model.student.named_parameters()}
    optim['student'].zero_grad()
    # the same terms by hand
    model.discriminator.requires_grad_(False)
    t_logits, _, t_feats = model._seg_forward(tgt['inputs'], with_aux=False)
    t_prob = model._probs(t_logits, None, (32, 32))['discriminator']
    adv = 0.002 * model.adv_loss(model.discriminator(t_prob), 0.0)
    s_logits, s_aux, s_feats = model._seg_forward(src['inputs'])
    seg = sum(v for k, v in model._seg_losses(
        s_logits, s_aux, src['data_samples']).items() if 'loss' in k)
    if align == 'source_to_target':
        t_feats = [f.detach() for f in t_feats]
    pfr = sum(model.pfr_loss(s_feats, t_feats).values())
    (seg + adv + pfr).backward(retain_graph=True)
    for k, p in model.student.named_parameters():
        torch.testing.assert_close(p.grad, joint[k], rtol=1e-4, atol=1e-7)
    # without PFR the backbone gradient differs
    optim['student'].zero_grad()
    (seg + adv).backward()
    stem = model.student.backbone.stem[0].weight
    assert not torch.allclose(stem.grad, joint['backbone.stem.0.weight'])


@pytest.mark.parametrize('align,src_grad,tgt_grad', [
    ('source_to_target', True, False),
    ('target_to_source', False, True),
    ('both', True, True),
])
def test_pfr_alignment_direction(align, src_grad, tgt_grad):
    """With the paper's default (source aligned to target) no gradient of
    L_pfr reaches the target-side features; the other directions move the
    side they name (rules out aligning both ways by default, the earlier
    behaviour, and a swapped detach)."""
    model = build_pfr(align=align)
    g = torch.Generator().manual_seed(0)
    shapes = [(2, 8, 8, 8), (2, 16, 4, 4)]
    src = [torch.randn(s, generator=g, requires_grad=True) for s in shapes]
    tgt = [torch.randn(s, generator=g, requires_grad=True) for s in shapes]
    losses = model._alignment_losses(src, tgt)
    assert set(losses) == {'pfr.loss_sty', 'pfr.loss_con'}
    sum(losses.values()).backward()
    for feats, moved in ((src, src_grad), (tgt, tgt_grad)):
        for f in feats:
            if moved:
                assert f.grad is not None and f.grad.abs().sum() > 0
            else:
                assert f.grad is None
    # the loss value does not depend on the direction
    ref = model.pfr_loss(src, tgt)
    for k in ('loss_sty', 'loss_con'):
        torch.testing.assert_close(losses[f'pfr.{k}'], ref[k])


def test_pfr_default_direction_and_check():
    assert build_pfr().align == 'source_to_target'
    from mmengine.config import Config
    cfg = Config.fromfile(
        'configs/pfr/pfr_deeplabv2-r101_1xb1-150k_gta2cityscapes-512x512.py')
    assert cfg.model.align == 'source_to_target'
    with pytest.raises(ValueError, match='align'):
        build_pfr(align='target')
