# mmseg's UPerNet with a Swin-T backbone (FCN auxiliary head on stage 3,
# weight 0.4), inherited from mmseg's own model config; the Swin-T lines are
# those of mmseg's `swin/swin-tiny-patch4-window7-in1k-pre_upernet_*`.
# Pads to the 512x512 UDA crops.
_base_ = ['mmseg::_base_/models/upernet_swin.py']
data_preprocessor = dict(size=(512, 512))
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/'
            'pretrain/swin/swin_tiny_patch4_window7_224_20220317-1cdeb081.pth'),
        embed_dims=96,
        depths=[2, 2, 6, 2],
        num_heads=[3, 6, 12, 24],
        window_size=7,
        use_abs_pos_embed=False,
        drop_path_rate=0.3,
        patch_norm=True),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
