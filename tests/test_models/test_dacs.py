"""DACS: the training step, prediction and checkpoint conventions."""
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmseg.registry import MODELS

import mmseg_uda  # noqa: F401
from tests.test_models.tiny_models import (
    tiny_dacs,
    tiny_mit_segmentor,
    uda_batch,
)


def build(**kwargs):
    torch.manual_seed(0)
    model = MODELS.build(tiny_dacs(**kwargs))
    model.init_weights()
    return model


def test_train_step_updates_student_only():
    model = build()
    model.train()
    model.teacher.load_state_dict(model.student.state_dict())
    teacher_before = {k: v.clone() for k, v in model.teacher.state_dict(
    ).items() if 'running' not in k and 'batches' not in k}
    student_before = {
        k: v.clone()
        for k, v in model.student.named_parameters()
    }
    imnet_before = {k: v.clone() for k, v in model.imnet_backbone.state_dict(
    ).items()}
    wrapper = OptimWrapper(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.1))
    logs = model.train_step(uda_batch(), wrapper)
    for key in ('src.decode.loss_ce', 'src.loss_imnet_feat_dist',
                'mix.decode.loss_ce', 'pseudo_weight'):
        assert key in logs, logs.keys()
        assert torch.isfinite(logs[key])
    assert all(not v.requires_grad for v in logs.values())
    changed = [k for k, p in model.student.named_parameters()
               if not torch.equal(p, student_before[k])]
    assert changed
    for k, v in teacher_before.items():
        assert torch.equal(model.teacher.state_dict()[k], v), k
    for k, v in imnet_before.items():
        assert torch.equal(model.imnet_backbone.state_dict()[k], v), k
    assert all(not p.requires_grad for p in model.teacher.parameters())
    assert all(p.grad is None or torch.all(p.grad == 0)
               for p in model.student.parameters())  # zeroed after step


def test_train_step_with_valid_pseudo_mask_and_debug_record():
    model = build(imnet_feature_dist=None, pseudo_weight_ignore_top=3)
    model.train()
    model.record_debug = True
    wrapper = OptimWrapper(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.01))
    model.train_step(uda_batch(valid_mask=True), wrapper)
    w = model.debug_output['pseudo_weight']
    assert w.shape == (2, 1, 32, 32)
    assert torch.all(w[:, :, :3] == 0)  # ignore rows
    assert torch.all(w[:, :, :, :4] == 0)  # valid_pseudo_mask
    mixed_w = model.debug_output['mix_mask']
    assert set(mixed_w.unique().tolist()) <= {0.0, 1.0}
    assert model.imnet_backbone is None


def test_teacher_dropout_off_bn_follows_mode():
    model = build()
    model.train()
    kinds = {type(m).__name__: m.training for m in model.teacher.modules()
             if type(m).__name__ in ('DropPath', 'Dropout2d', 'BatchNorm2d',
                                     'SyncBatchNorm')}
    assert kinds['DropPath'] is False and kinds['Dropout2d'] is False
    assert kinds['BatchNorm2d'] is True
    assert model.imnet_backbone.training is False
    assert any(type(m).__name__ == 'DropPath' and m.training
               for m in model.student.modules())


def test_predict_uses_student_or_teacher():
    model = build()
    model.eval()
    with torch.no_grad():
        for p in model.teacher.parameters():
            p.add_(1.0)
    batch = uda_batch(n=1)['target']
    data = model.data_preprocessor(batch, False)
    out_s = model.predict(data['inputs'], data['data_samples'])
    logits_s = out_s[0].seg_logits.data.clone()
    ref = model.student.predict(data['inputs'], data['data_samples'])
    assert torch.equal(logits_s, ref[0].seg_logits.data)
    model.predict_on = 'teacher'
    out_t = model.predict(data['inputs'], data['data_samples'])
    assert not torch.equal(out_t[0].seg_logits.data, logits_s)


def test_plain_segmentor_checkpoint_initialises_student_and_teacher():
    torch.manual_seed(1)
    plain = MODELS.build(tiny_mit_segmentor())
    model = build()
    result = model.load_state_dict(plain.state_dict(), strict=False)
    for k, v in plain.state_dict().items():
        assert torch.equal(model.student.state_dict()[k], v)
        assert torch.equal(model.teacher.state_dict()[k], v)
    assert all(k.startswith('imnet_backbone.') for k in result.missing_keys)
    assert not result.unexpected_keys


def test_config_errors():
    # any per-pixel mmseg head is accepted now; a loss that cannot take
    # per-pixel weights is refused at build time, naming head and loss
    segmentor = tiny_mit_segmentor(head='FCNHead')
    segmentor.decode_head.loss_decode = dict(type='DiceLoss')
    with pytest.raises(TypeError, match='decode_head .FCNHead.*DiceLoss'):
        MODELS.build(tiny_dacs(segmentor=segmentor))
    with pytest.raises(ValueError, match='predict_on'):
        build(predict_on='ema')
    with pytest.raises(ValueError, match='pseudo_threshold'):
        build(pseudo_threshold=1.5)


def test_injected_preprocessor_must_match_the_segmentors():
    seg = tiny_mit_segmentor()
    other = dict(seg.data_preprocessor, size=(64, 64))
    with pytest.raises(ValueError, match=r"\['size'\]"):
        MODELS.build(tiny_dacs(data_preprocessor=other))
    same = dict(seg.data_preprocessor)
    model = MODELS.build(tiny_dacs(data_preprocessor=same))
    assert model.data_preprocessor.data_preprocessor.size == (32, 32)


def test_init_model_without_dataset_meta(tmp_path):
    from mmengine.config import Config
    from mmseg.apis import init_model
    model = build()
    ckpt = str(tmp_path / 'uda.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), ckpt)
    cfg = Config(dict(model=tiny_dacs(), test_pipeline=[]))
    loaded = init_model(cfg, ckpt, device='cpu')
    assert loaded.decode_head is loaded.student.decode_head
    assert loaded.dataset_meta['classes']  # derived from num_classes
