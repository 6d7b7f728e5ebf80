# DACS as configured by DAFormer on mmseg's UPerNet with a ConvNeXt-T
# backbone (mmpretrain's ConvNeXt; FCN auxiliary head on stage 3), gta ->
# cityscapes at 512x512 crops: the UPerNet-Swin-T DACS config with the
# backbone lines of mmseg's convnext/convnext-tiny_upernet_8xb2-amp-160k_*
# config and its ImageNet weights. (Its model base,
# mmseg::_base_/models/upernet_convnext.py, cannot be a base here: it sets
# `custom_imports` like our default_runtime.py, and mmengine refuses a key
# defined by two bases.) The ImageNet feature distance of DAFormer's DACS
# stays on (ConvNeXt is an ImageNet encoder, not a foundation model).
_base_ = ['../dacs/dacs_upernet-swin-t_1xb2-40k_gta2cityscapes-512x512.py']
custom_imports = dict(
    imports=['mmseg_uda', 'mmseg_uda.utils.require_mmpretrain'],
    allow_failed_imports=False)
model = dict(
    segmentor=dict(
        backbone=dict(
            _delete_=True,
            type='mmpretrain.ConvNeXt',
            arch='tiny',
            out_indices=[0, 1, 2, 3],
            drop_path_rate=0.4,
            layer_scale_init_value=1.0,
            gap_before_final_norm=False,
            init_cfg=dict(
                type='Pretrained',
                checkpoint='https://download.openmmlab.com/mmclassification/'
                'v0/convnext/downstream/convnext-tiny_3rdparty_32xb128-noema_'
                'in1k_20220301-795e9634.pth',
                prefix='backbone.')),
        decode_head=dict(in_channels=[96, 192, 384, 768]),
        auxiliary_head=dict(in_channels=384)))
