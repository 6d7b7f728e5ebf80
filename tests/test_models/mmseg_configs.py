"""mmseg's own model configs, loaded with ``mmseg::`` and shrunk for CPU.

Each entry names a config shipped in mmseg's package (``mmseg/.mim/
configs``) and the overrides that shrink its depths and widths (kept
structurally identical: same segmentor, backbone, heads, losses and
auxiliary heads). ``SyncBN`` becomes ``BN`` (no process group in the
tests) and pretrained weights are dropped (nothing is downloaded).
"""
import copy

from mmengine.config import Config, ConfigDict
from mmengine.hub import get_config

CROP = 32

_RESNET = dict(depth=18, stem_channels=8, base_channels=8)  # 8/16/32/64 ch
_VIT = dict(img_size=(CROP, CROP), patch_size=8, embed_dims=16, num_layers=4,
            num_heads=2, mlp_ratio=2, out_indices=(0, 1, 2, 3))

# mmseg config -> overrides of its ``model``
MMSEG_CONFIGS = {
    'segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py': dict(
        backbone=dict(embed_dims=8, num_layers=[1, 1, 1, 1]),
        decode_head=dict(in_channels=[8, 16, 40, 64], channels=16)),
    'deeplabv3plus/deeplabv3plus_r50-d8_4xb2-40k_cityscapes-512x1024.py':
    dict(
        backbone=_RESNET,
        decode_head=dict(in_channels=64, channels=16, c1_in_channels=8,
                         c1_channels=8),
        auxiliary_head=dict(in_channels=32, channels=8)),
    'swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-'
    '512x512.py': dict(
        backbone=dict(embed_dims=8, depths=[1, 1, 1, 1],
                      num_heads=[1, 1, 2, 2], window_size=2),
        decode_head=dict(in_channels=[8, 16, 32, 64], channels=16),
        auxiliary_head=dict(in_channels=32, channels=8)),
    'ocrnet/ocrnet_hr18s_4xb2-40k_cityscapes-512x1024.py': dict(
        backbone=dict(extra=dict(
            stage1=dict(num_blocks=(1, ), num_channels=(8, )),
            stage2=dict(num_blocks=(1, 1), num_channels=(4, 8)),
            stage3=dict(num_modules=1, num_blocks=(1, 1, 1),
                        num_channels=(4, 8, 16)),
            stage4=dict(num_modules=1, num_blocks=(1, 1, 1, 1),
                        num_channels=(4, 8, 16, 32)))),
        decode_head=[
            dict(in_channels=[4, 8, 16, 32], channels=60),
            dict(in_channels=[4, 8, 16, 32], channels=16, ocr_channels=8)
        ]),
    'danet/danet_r50-d8_4xb2-40k_cityscapes-512x1024.py': dict(
        backbone=_RESNET,
        decode_head=dict(in_channels=64, channels=16, pam_channels=4),
        auxiliary_head=dict(in_channels=32, channels=8)),
    'isanet/isanet_r50-d8_4xb2-40k_cityscapes-512x1024.py': dict(
        backbone=_RESNET,
        decode_head=dict(in_channels=64, channels=16, isa_channels=8,
                         down_factor=(2, 2)),
        auxiliary_head=dict(in_channels=32, channels=8)),
    'pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py': dict(
        backbone=_RESNET,
        decode_head=dict(in_channels=64, channels=16),
        auxiliary_head=dict(in_channels=32, channels=8)),
    'setr/setr_vit-l_naive_8xb1-80k_cityscapes-768x768.py': dict(
        backbone=_VIT,
        decode_head=dict(in_channels=16, channels=8, in_index=3),
        auxiliary_head=[
            dict(in_channels=16, channels=8, in_index=i) for i in range(3)
        ]),
    'segmenter/segmenter_vit-t_mask_8xb1-160k_ade20k-512x512.py': dict(
        backbone=_VIT,
        decode_head=dict(in_channels=16, channels=16, embed_dims=16,
                         num_heads=2, num_layers=1)),
}


def _plain(cfg):
    """SyncBN -> BN, no pretrained weights (recursively)."""
    if isinstance(cfg, dict):
        out = type(cfg)()
        for k, v in cfg.items():
            if k == 'type' and v == 'SyncBN':
                v = 'BN'
            elif k == 'pretrained' or (k == 'init_cfg' and isinstance(v, dict)
                                       and v.get('type') == 'Pretrained'):
                v = None
            out[k] = _plain(v)
        return out
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(_plain(v) for v in cfg)
    return cfg


def shrunk_model(name: str, num_classes: int = 4) -> ConfigDict:
    """``model`` of ``mmseg::<name>``, shrunk, with ``num_classes`` and
    a ``CROP`` x ``CROP`` preprocessor."""
    cfg = get_config('mmseg::' + name)
    model = copy.deepcopy(cfg.model)
    override = copy.deepcopy(MMSEG_CONFIGS[name])
    for key in ('decode_head', 'auxiliary_head'):
        extra = override.pop(key, None)
        if isinstance(extra, list):  # lists of heads: merged one by one
            for head, head_extra in zip(model[key], extra):
                head.update(head_extra)
        elif extra is not None:
            model[key].update(extra)
    model = Config._merge_a_into_b(override, model)
    heads = (model.decode_head if isinstance(model.decode_head, list) else
             [model.decode_head])
    auxes = model.get('auxiliary_head') or []
    for head in heads + (auxes if isinstance(auxes, list) else [auxes]):
        head.num_classes = num_classes
    model.data_preprocessor.size = (CROP, CROP)
    return ConfigDict(_plain(model.to_dict()))
