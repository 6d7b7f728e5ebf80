# HRDA around mmseg's DeepLabV3+ head (R101-D8): the depthwise-separable ASPP
# head is the shared single-scale head, its scale attention a second head of
# the same type with `num_classes` sigmoid outputs (as the reference builds it
# for heads other than DAFormer's). HRDA's defaults otherwise (scales 1 and
# 0.5, loss 0.9 fused + 0.1 detail, overlapping sliding detail inference).
# Output stride 4, so detail crops start at multiples of 8.
# HRDAEncoderDecoder has no auxiliary head: the mmseg config's is dropped.
_base_ = ['./mmseg_deeplabv3plus_r101-d8.py']
data_preprocessor = dict(size=(1024, 1024))
model = dict(
    type='HRDAEncoderDecoder',
    data_preprocessor=data_preprocessor,
    hr_crop_size=(512, 512),
    feature_scale=0.5,
    crop_coord_divisible=8,
    decode_head=dict(
        type='HRDAHead', single_scale_head='DepthwiseSeparableASPPHead'),
    auxiliary_head=None,
    test_cfg=dict(
        mode='slide',
        batched_slide=True,
        batch_size=1,
        stride=(512, 512),
        crop_size=(1024, 1024)))
