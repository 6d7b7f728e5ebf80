# The mmseg EncoderDecoder that the plugin's own model bases fill in
# (daformer_sepaspp_mitb5.py, deeplabv2_r101.py): ImageNet mean/std, RGB,
# padded to the 512x512 UDA crops, whole-image inference. A model base adds
# its backbone and heads.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size=(512, 512),
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained=None,
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
