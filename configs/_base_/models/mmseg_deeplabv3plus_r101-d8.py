# mmseg's DeepLabV3+ with a ResNet-101-D8 (depthwise-separable ASPP head and
# an FCN auxiliary head on stage 3, weight 0.4), inherited from mmseg's own
# model config as mmseg's `deeplabv3plus_r101-d8_*` configs do.
_base_ = ['mmseg::_base_/models/deeplabv3plus_r50-d8.py']
# pad size of the 512x512 UDA crops (mmseg's model bases leave it to the
# experiment)
data_preprocessor = dict(size=(512, 512))
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained='open-mmlab://resnet101_v1c',
    backbone=dict(depth=101))
