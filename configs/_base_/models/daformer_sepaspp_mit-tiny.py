# A tiny DAFormer (4 single-block MiT stages of 16..128 channels, 64-dim
# head) that trains on CPU in minutes: for the quick-start and tests on the
# synthetic data, not for benchmarks. No ImageNet weights.
_base_ = ['./daformer_sepaspp_mitb5.py']
norm_cfg = dict(type='SyncBN', requires_grad=True)
# Top level too: mmengine's Runner injects the top-level data_preprocessor
# into the (UDA) model.
data_preprocessor = dict(size=(128, 128))
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        embed_dims=16,
        num_layers=[1, 1, 1, 1],
        num_heads=[1, 2, 4, 8],
        init_cfg=None),
    decode_head=dict(
        in_channels=[16, 32, 64, 128],
        channels=64,
        decoder_params=dict(embed_dims=64)))
