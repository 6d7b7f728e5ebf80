# SegFormer baseline with the same MiT-B5 encoder (mmseg's SegformerHead,
# 256 channels as in mmseg's segformer configs).
_base_ = ['./daformer_sepaspp_mitb5.py']
# The DAFormer head's inputs, channels and classes (not its decoder_params)
# and mmseg's default cross-entropy.
model = dict(
    decode_head=dict(
        _delete_=True,
        type='SegformerHead',
        **{
            k: _base_.model.decode_head[k]
            for k in ('in_channels', 'in_index', 'channels', 'dropout_ratio',
                      'num_classes', 'norm_cfg', 'align_corners')
        },
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
