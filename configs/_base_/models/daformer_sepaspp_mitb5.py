# DAFormer network (Hoyer et al., CVPR 2022): MiT-B5 encoder + DAFormer head
# with the context-aware fusion `sepaspp` (ASPP with depthwise-separable
# 3x3 convs, dilations 1/6/12/18, no image pooling).
#
# ImageNet weights: mmseg's converted MiT-B5 checkpoint in
# `pretrained/mit_b5.pth` (relative to the working directory). Get it by
# converting the official SegFormer `mit_b5.pth` with mmseg's tool
#   python tools/model_converters/mit2mmseg.py mit_b5.pth pretrained/mit_b5.pth
# (shipped in `mmseg/.mim/tools/model_converters/`), or override
# `model.backbone.init_cfg.checkpoint`. The reference B5 uses the LayerNorm
# eps 1e-5 in the patch embedding and attention norms; mmseg uses 1e-6 there
# (a difference of ~1e-5 in the features).
_base_ = ['./encoder_decoder_512x512.py']
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        # mmseg's MixVisionTransformer (same keys and initialisation) with
        # fused attention (F.scaled_dot_product_attention); set
        # `fused_attention=False` for mmseg's attention unchanged
        type='MixVisionTransformerFused',
        fused_attention=True,
        in_channels=3,
        embed_dims=64,
        num_stages=4,
        num_layers=[3, 6, 40, 3],
        num_heads=[1, 2, 5, 8],
        patch_sizes=[7, 3, 3, 3],
        strides=[4, 2, 2, 2],
        sr_ratios=[8, 4, 2, 1],
        out_indices=(0, 1, 2, 3),
        mlp_ratio=4,
        qkv_bias=True,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/mit_b5.pth')),
    decode_head=dict(
        type='DAFormerHead',
        in_channels=[64, 128, 320, 512],
        in_index=[0, 1, 2, 3],
        channels=256,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        decoder_params=dict(
            embed_dims=256,
            fusion_cfg=dict(
                type='sepaspp',
                dilations=(1, 6, 12, 18),
                pool=False,
                act_cfg=dict(type='ReLU'),
                norm_cfg=norm_cfg)),
        loss_decode=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=1.0,
            avg_non_ignore=False)))
