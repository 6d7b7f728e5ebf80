"""Output-space adversarial training (AdaptSegNet): discriminator, GAN
losses, the per-child optimizer constructor and the alternating step."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmseg.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

import mmseg_uda  # noqa: F401
from mmseg_uda.models.discriminators import FCDiscriminator
from mmseg_uda.models.losses import AdversarialLoss
from tests.test_models.tiny_models import (
    build_adversarial_model as build_model,
)
from tests.test_models.tiny_models import (
    build_adversarial_optim as build_optim,
)
from tests.test_models.tiny_models import uda_batch


def clone_params(module):
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def test_discriminator_shapes_and_layers():
    d = FCDiscriminator(in_channels=19)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2)
               and c.padding == (1, 1) for c in convs)
    acts = [m for m in d.modules() if isinstance(m, torch.nn.LeakyReLU)]
    assert len(acts) == 4 and all(a.negative_slope == 0.2 for a in acts)
    assert not any(isinstance(m, torch.nn.Sigmoid) for m in d.modules())
    assert d(torch.rand(2, 19, 64, 128)).shape == (2, 1, 2, 4)
    assert d(torch.rand(1, 19, 512, 1024)).shape == (1, 1, 16, 32)
    assert d(torch.rand(1, 19, 100, 70)).shape == (1, 1, 3, 2)
    small = FCDiscriminator(in_channels=3, channels=(4, 8))
    assert small(torch.rand(1, 3, 16, 16)).shape == (1, 1, 2, 2)
    with pytest.raises(ValueError):
        FCDiscriminator(in_channels=0)


def test_adversarial_loss_values():
    pred = torch.tensor([[0.0, 2.0], [-1.0, 3.0]])
    bce = AdversarialLoss('bce')
    sp = F.softplus
    # BCE-with-logits: label 0 -> softplus(x), label 1 -> softplus(-x).
    torch.testing.assert_close(bce(pred, 0), sp(pred).mean())
    torch.testing.assert_close(bce(pred, 1), sp(-pred).mean())
    torch.testing.assert_close(
        bce(pred, 0), torch.tensor((sp(torch.tensor(0.)) + sp(
            torch.tensor(2.)) + sp(torch.tensor(-1.)) + sp(
                torch.tensor(3.))).item() / 4))
    ls = AdversarialLoss('lsgan', loss_weight=2.0)
    torch.testing.assert_close(ls(pred, 1), torch.tensor(
        2 * (1 + 1 + 4 + 4) / 4))
    torch.testing.assert_close(ls(pred, 0), torch.tensor(
        2 * (0 + 4 + 1 + 9) / 4))
    with pytest.raises(ValueError, match='gan_loss'):
        AdversarialLoss('wgan')


def test_multi_optim_constructor():
    model = build_model(aux=True)
    optim = build_optim(model)
    assert isinstance(optim, OptimWrapperDict)
    assert set(optim.keys()) == {'student', 'discriminator',
                                 'aux_discriminator'}
    student = optim['student'].optimizer
    assert isinstance(student, torch.optim.SGD)
    assert isinstance(optim['discriminator'].optimizer, torch.optim.Adam)
    # head parameters at 10x lr (names relative to the child)
    head_ids = {id(p) for p in model.student.decode_head.parameters()}
    head_ids |= {id(p) for p in model.student.auxiliary_head.parameters()}
    for group in student.param_groups:
        is_head = id(group['params'][0]) in head_ids
        assert group['lr'] == pytest.approx(0.1 if is_head else 0.01)
    n_student = sum(len(g['params']) for g in student.param_groups)
    assert n_student == len(list(model.student.parameters()))
    with pytest.raises(ValueError, match='outside every optimizer'):
        OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
            type='MultiOptimWrapperConstructor', optim_wrapper_cfg=dict(
                student=dict(optimizer=dict(type='SGD', lr=0.1)))))(model)
    with pytest.raises(ValueError, match='no child module'):
        OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
            type='MultiOptimWrapperConstructor', optim_wrapper_cfg=dict(
                generator=dict(optimizer=dict(type='SGD', lr=0.1)))))(model)


def test_model_structure_and_errors():
    model = build_model()
    assert model.teacher is None and model.aux_discriminator is None
    assert model.discriminator.in_channels == 4  # decode head's classes
    with pytest.raises(ValueError, match='teacher'):
        build_model(use_teacher=True)
    with pytest.raises(ValueError, match='auxiliary_head'):
        build_model(aux_discriminator=dict(type='FCDiscriminator'))
    with pytest.raises(TypeError, match='OptimWrapperDict'):
        model.train_step(uda_batch(), OptimWrapper(
            torch.optim.SGD(model.parameters(), lr=0.1)))
    optim = build_optim(model)
    with pytest.raises(KeyError, match='discriminator'):
        model.train_step(uda_batch(), OptimWrapperDict(
            student=optim['student']))


@pytest.mark.parametrize('aux', [False, True])
def test_generator_step_leaves_discriminators_untouched(aux):
    model = build_model(aux=aux)
    optim = build_optim(model)
    data = model.data_preprocessor(uda_batch(), True)
    src, tgt = data['source'], data['target']
    discs = {n: clone_params(getattr(model, n))
             for n in model.discriminator_names}
    logs, src_probs, tgt_probs = model.generator_step(
        src['inputs'], src['data_samples'], tgt['inputs'],
        tgt['data_samples'], optim['student'])
    for name in model.discriminator_names:
        disc = getattr(model, name)
        assert all(p.grad is None for p in disc.parameters())
        assert not any(p.requires_grad for p in disc.parameters())
    assert all(p.grad is not None for p in model.student.parameters())
    # Stepping every optimizer now changes the student only.
    before = clone_params(model.student)
    for name in optim.keys():
        optim[name].step()
    for name, params in discs.items():
        for k, v in getattr(model, name).named_parameters():
            assert torch.equal(v, params[k]), (name, k)
    assert any(not torch.equal(v, before[k])
               for k, v in model.student.named_parameters())
    expected = {'tgt.loss_adv', 'src.decode.loss_ce'}
    if aux:
        expected |= {'tgt.loss_adv_aux', 'src.aux.loss_ce'}
    assert expected <= set(logs)
    for probs in (src_probs, tgt_probs):
        assert set(probs) == set(model.discriminator_names)
        assert all(not p.requires_grad for p in probs.values())


def test_discriminator_step_leaves_student_untouched():
    model = build_model(aux=True)
    optim = build_optim(model)
    data = model.data_preprocessor(uda_batch(), True)
    src, tgt = data['source'], data['target']
    _, src_probs, tgt_probs = model.generator_step(
        src['inputs'], src['data_samples'], tgt['inputs'],
        tgt['data_samples'], optim['student'])
    student_grads = {k: p.grad.clone()
                     for k, p in model.student.named_parameters()}
    logs = model.discriminator_step(src_probs, tgt_probs, optim)
    for k, p in model.student.named_parameters():
        assert torch.equal(p.grad, student_grads[k]), k
    for name in model.discriminator_names:
        assert all(p.requires_grad and p.grad is not None
                   for p in getattr(model, name).parameters())
    assert {'disc.src_loss', 'disc.tgt_loss', 'disc.src_loss_aux',
            'disc.tgt_loss_aux'} <= set(logs)
    # With the student's gradients cleared, the D step gives it none.
    optim['student'].zero_grad()
    before = clone_params(model.student)
    model.discriminator_step(src_probs, tgt_probs, optim)
    optim['student'].step()
    for k, v in model.student.named_parameters():
        assert torch.equal(v, before[k]), k


@pytest.mark.parametrize('gan_loss', ['bce', 'lsgan'])
def test_adversarial_losses_on_softmax_with_domain_labels(gan_loss):
    model = build_model(gan_loss=gan_loss, lambda_adv=0.001)
    optim = build_optim(model)
    calls = []
    loss_forward = model.adv_loss.forward

    def spy_loss(pred, label):
        calls.append(dict(pred=pred, label=label))
        return loss_forward(pred, label)

    model.adv_loss.forward = spy_loss
    d_inputs = []
    model.discriminator.register_forward_hook(
        lambda m, args, out: d_inputs.append((args[0], out)))
    batch = uda_batch(n=2, size=32)
    data = model.data_preprocessor(batch, True)
    tgt_img = data['target']['inputs']
    # The reference target output: softmax of the logits upsampled to the
    # input size (the student's BN uses batch statistics: same output).
    with torch.no_grad():
        logits = model.student._forward(tgt_img)
        expected_prob = torch.softmax(
            F.interpolate(logits, size=(32, 32), mode='bilinear',
                          align_corners=False), dim=1)
        expected_d = model.discriminator(expected_prob)
    d_inputs.clear()
    logs = model.train_step(batch, optim)

    # 1 generator call (target, source label) + 2 discriminator calls.
    assert [c['label'] for c in calls] == [0.0, 0.0, 1.0]
    assert len(d_inputs) == 3
    for prob, _ in d_inputs:
        assert prob.shape == (2, 4, 32, 32)
        assert torch.all(prob >= 0)
        torch.testing.assert_close(prob.sum(1), torch.ones(2, 32, 32))
    gen_in, gen_out = d_inputs[0]
    assert gen_in.requires_grad  # gradient reaches the student
    torch.testing.assert_close(gen_in, expected_prob, rtol=1e-4, atol=1e-5)
    assert not d_inputs[1][0].requires_grad  # detached in the D step
    assert not d_inputs[2][0].requires_grad
    torch.testing.assert_close(d_inputs[2][0], gen_in.detach())
    if gan_loss == 'bce':
        ref = F.binary_cross_entropy_with_logits(
            expected_d, torch.zeros_like(expected_d))
    else:
        ref = (expected_d**2).mean()
    torch.testing.assert_close(logs['tgt.loss_adv'], 0.001 * ref,
                               rtol=1e-4, atol=1e-7)
    # D step terms are halved, source output against label 0
    src_out = d_inputs[1][1]
    half = model.adv_loss(src_out.detach(), 0.0) / 2
    torch.testing.assert_close(logs['disc.src_loss'], half)
    tgt_half = model.adv_loss(d_inputs[2][1].detach(), 1.0) / 2
    torch.testing.assert_close(logs['disc.tgt_loss'], tgt_half)


def test_train_step_updates_both_and_predicts():
    model = build_model(aux=True)
    optim = build_optim(model)
    before = {n: clone_params(getattr(model, n))
              for n in ['student'] + model.discriminator_names}
    logs = model.train_step(uda_batch(), optim)
    assert all(torch.isfinite(v) and not v.requires_grad
               for v in logs.values())
    for name, params in before.items():
        module = getattr(model, name)
        assert any(not torch.equal(v, params[k])
                   for k, v in module.named_parameters()), name
        assert all(p.grad is None or torch.all(p.grad == 0)
                   for p in module.parameters())
    assert all(p.requires_grad for p in model.discriminator.parameters())
    model.eval()
    batch = uda_batch(n=1, size=32)['source']
    out = model.val_step(batch)
    assert out[0].pred_sem_seg.shape == (32, 32)
    # checkpoint keys: student and discriminators, no teacher
    keys = model.state_dict().keys()
    assert any(k.startswith('discriminator.') for k in keys)
    assert any(k.startswith('aux_discriminator.') for k in keys)
    assert not any(k.startswith('teacher.') for k in keys)


@pytest.mark.parametrize('config', [
    'configs/advseg/advseg_deeplabv2-r101_1xb1-150k_gta2cityscapes-512x512.py',
    'configs/pfr/pfr_deeplabv2-r101_1xb1-150k_gta2cityscapes-512x512.py'
])
def test_zoo_configs_build_with_their_optimizers(config):
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    cfg.model.segmentor.backbone.init_cfg = None  # no pretrained file here
    model = MODELS.build(cfg.model)
    optim_cfg = cfg.optim_wrapper.to_dict()
    optim_cfg.pop('constructor')
    optim = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='MultiOptimWrapperConstructor',
        optim_wrapper_cfg=optim_cfg))(model)
    assert set(optim.keys()) == {'student', *model.discriminator_names}
    multi_level = model.aux_discriminator is not None
    assert multi_level == ('advseg_' in config)
    assert cfg.model_wrapper_cfg.type == 'UDADistributedDataParallel'
    if 'pfr' in config:
        assert (model.lambda_adv, model.pfr_loss.loss_weight) == (0.002,
                                                                  0.004)
    else:
        assert (model.lambda_adv, model.lambda_adv_aux) == (0.001, 0.0002)
    sgd = optim['student'].optimizer
    assert sgd.defaults['momentum'] == 0.9
    assert sgd.defaults['weight_decay'] == 5e-4
    # BN affine parameters frozen (as the reference), classifiers at 10x lr
    bn = model.student.backbone.layer1[0].bn1
    assert not bn.weight.requires_grad
    lrs = {id(p): g['lr'] for g in sgd.param_groups for p in g['params']}
    assert lrs[id(model.student.decode_head.aspp[0].weight)] == 2.5e-3
    assert lrs[id(model.student.backbone.layer4[0].conv1.weight)] == 2.5e-4
    adam = optim['discriminator'].optimizer
    assert adam.defaults['lr'] == 1e-4
    assert adam.defaults['betas'] == (0.9, 0.99)
    assert [s.type for s in cfg.param_scheduler] == ['PolyLR']
    assert (cfg.param_scheduler[0].power, cfg.param_scheduler[0].end,
            cfg.train_cfg.max_iters) == (0.9, 250000, 150000)
    assert cfg.train_dataloader.batch_size == 1
