# A tiny HRDA (the tiny DAFormer of `daformer_sepaspp_mit-tiny.py`: four
# single-block MiT stages of 16..128 channels, 64-dim heads, no ImageNet
# weights) for the quick-start and tests on CPU, not for benchmarks. The
# geometry is HRDA's at a quarter of the size: 256x256 training crops,
# context = crop / 2 (128x128), 128x128 detail crops (corner a multiple of
# 8), test windows of 256x256 with stride 128.
_base_ = ['./hrda_daformer_sepaspp_mitb5.py']
data_preprocessor = dict(size=(256, 256))
model = dict(
    data_preprocessor=dict(size=(256, 256)),
    hr_crop_size=(128, 128),
    backbone=dict(
        embed_dims=16,
        num_layers=[1, 1, 1, 1],
        num_heads=[1, 2, 4, 8],
        init_cfg=None),
    decode_head=dict(
        in_channels=[16, 32, 64, 128],
        channels=64,
        decoder_params=dict(embed_dims=64),
        attention_embed_dim=64),
    test_cfg=dict(stride=(128, 128), crop_size=(256, 256)))
