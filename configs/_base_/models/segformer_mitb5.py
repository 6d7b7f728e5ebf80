# SegFormer baseline with the same MiT-B5 encoder (mmseg's SegformerHead,
# 256 channels as in mmseg's segformer configs).
_base_ = ['./daformer_sepaspp_mitb5.py']
model = dict(
    decode_head=dict(
        _delete_=True,
        type='SegformerHead',
        in_channels=[64, 128, 320, 512],
        in_index=[0, 1, 2, 3],
        channels=256,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg={{_base_.norm_cfg}},
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
