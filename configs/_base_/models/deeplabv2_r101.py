# DeepLab-v2 (Chen et al., TPAMI 2018) as used by AdaptSegNet and PFR:
# dilated ResNet-101 (mmseg ResNetV1c; the last two stages with stride 1 and
# dilations 2 and 4, output stride 8) and the DeepLab-v2 ASPP classifier
# (sum of four 3x3 convs with dilations 6/12/18/24 on the stage-5 features).
#
# ImageNet weights: mmseg's ResNet-101 V1c checkpoint in
# `pretrained/resnet101_v1c.pth` (relative to the working directory), i.e.
# the file behind `open-mmlab://resnet101_v1c` (mmengine/hub/openmmlab.json:
# https://download.openmmlab.com/pretrain/third_party/resnet101_v1c-e67eebb6.pth
# saved under that name), or override `model.backbone.init_cfg.checkpoint`.
#
# Batch norm as the AdaptSegNet reference (`model/deeplab_multi.py`: every
# BatchNorm2d's affine parameters get `requires_grad = False`;
# `train_gta2cityscapes_multi.py` calls `model.train()`): the ImageNet scale
# and shift stay fixed (`requires_grad=False`), but the layers run in
# training mode (`norm_eval=False`), so each forward normalises with the
# statistics of its own batch and the running statistics used at test time
# are updated by the source and the target forwards of every iteration.
# `norm_eval=True` would instead keep the ImageNet running statistics for
# training and testing (see docs/adversarial.md).
#
# The backbone returns all four stages (conv2_x..conv5_x, `out_indices`
# 0..3): the head reads stage 5 (`in_index=3`), PFR hooks every stage, and
# the multi-level AdaptSegNet's auxiliary classifier reads stage 4
# (`in_index=2`, see configs/advseg).
_base_ = ['./encoder_decoder_512x512.py']
norm_cfg = dict(type='BN', requires_grad=False)
model = dict(
    backbone=dict(
        type='ResNetV1c',
        depth=101,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        contract_dilation=True,
        init_cfg=dict(
            type='Pretrained', checkpoint='pretrained/resnet101_v1c.pth')),
    decode_head=dict(
        type='DeepLabV2Head',
        in_channels=2048,
        in_index=3,
        dilations=(6, 12, 18, 24),
        num_classes=19,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
