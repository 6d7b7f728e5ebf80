# DAFormer ablation `daformer_conv1`: the DAFormer head with a SegFormer-like
# 1x1 ConvModule fusion (256 embed dims) instead of `sepaspp`.
_base_ = ['./daformer_sepaspp_mitb5.py']
model = dict(
    decode_head=dict(
        decoder_params=dict(
            fusion_cfg=dict(
                _delete_=True,
                type='conv1',
                act_cfg=dict(type='ReLU'),
                norm_cfg={{_base_.norm_cfg}}))))
