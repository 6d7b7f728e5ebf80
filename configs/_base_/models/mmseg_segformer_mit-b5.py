# mmseg's SegFormer-B5 (MiT-B5 + SegformerHead), inherited from mmseg's own
# model config; the B5 lines are those of mmseg's
# `segformer/segformer_mit-b5_8xb2-160k_ade20k-512x512.py` (ImageNet weights
# downloaded by mmengine on first use).
# Pads to the 512x512 UDA crops.
_base_ = ['mmseg::_base_/models/segformer_mit-b0.py']
data_preprocessor = dict(size=(512, 512))
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/'
            'pretrain/segformer/mit_b5_20220624-658746d9.pth'),
        embed_dims=64,
        num_heads=[1, 2, 5, 8],
        num_layers=[3, 6, 40, 3]),
    decode_head=dict(in_channels=[64, 128, 320, 512]))
