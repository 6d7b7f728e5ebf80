# HRDA (Hoyer et al., ECCV 2022) with the DAFormer network (MiT-B5 +
# `daformer_sepaspp` head): 1024x1024 training crops at full resolution,
# context = crop downscaled by 2, detail = random 512x512 crop (corner a
# multiple of 8), scale attention = DAFormer head with a 1x1 fusion, loss
# 0.9 * fused + 0.1 * detail. Test: 1024x1024 windows with stride 512, each
# fused over both resolutions, windows batched per forward up to
# `max_batch_pixels` input pixels (3 windows = a whole 2048x1024 Cityscapes
# image per forward; lower it, e.g. to 1024 * 1024, on small GPUs).
_base_ = ['./daformer_sepaspp_mitb5.py']
data_preprocessor = dict(size=(1024, 1024))
model = dict(
    type='HRDAEncoderDecoder',
    data_preprocessor=dict(size=(1024, 1024)),
    scales=[1, 0.5],
    hr_crop_size=(512, 512),
    feature_scale=0.5,
    crop_coord_divisible=8,
    hr_slide_inference=True,
    hr_slide_overlapping=True,
    hr_slide_batch_size=None,
    decode_head=dict(
        type='HRDAHead',
        single_scale_head='DAFormerHead',
        attention_classwise=True,
        attention_embed_dim=256,
        hr_loss_weight=0.1,
        lr_loss_weight=0.0),
    test_cfg=dict(
        mode='slide',
        batched_slide=True,
        batch_size=None,
        max_batch_pixels=3 * 1024 * 1024,
        stride=(512, 512),
        crop_size=(1024, 1024)))
