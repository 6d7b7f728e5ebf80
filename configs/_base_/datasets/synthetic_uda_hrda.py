# The synthetic domain-shift data of `synthetic_uda.py` at HRDA geometry:
# as HRDA trains on full-resolution images (Cityscapes 2048x1024 instead of
# DAFormer's 1024x512) with crops twice as large, the images are used at
# twice the DAFormer quick-start scale (source 640x360, target 512x256) with
# 256x256 crops (context 128x128, detail 128x128 crops in the model) and
# RCS `min_crop_ratio=2.0`. The target keeps its `valid_pseudo_mask`.
# Generate the data as described in `synthetic_uda.py`.
_base_ = ['./synthetic_uda.py']
crop_size = (256, 256)
source_scale = (640, 360)
target_scale = (512, 256)
source_train_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='LoadCheckedAnnotations'),
    dict(type='Resize', scale=source_scale, keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
target_train_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(
        type='GenerateValidPseudoMask',
        margins=(30, 240, 30, 30),
        ref_size=(2048, 1024)),
    dict(type='Resize', scale=target_scale, keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackUDAInputs'),
]
test_pipeline = [
    # mmseg's own loaders: mmseg.apis and MMSegInferencer look them up by
    # name (training pipelines use the checked loaders).
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=target_scale, keep_ratio=True),
    # labels are loaded after Resize: evaluation at the original resolution
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
# Multi-scale + flip test-time augmentation (`tools/test.py --tta`), around
# the evaluation scale.
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(
                    type='Resize',
                    scale=(int(target_scale[0] * r), int(target_scale[1] * r)),
                    keep_ratio=True) for r in img_ratios
            ],
            [
                dict(type='RandomFlip', prob=0., direction='horizontal'),
                dict(type='RandomFlip', prob=1., direction='horizontal')
            ],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ])
]
train_dataloader = dict(
    dataset=dict(
        source=dict(pipeline=source_train_pipeline),
        target=dict(pipeline=target_train_pipeline),
        rare_class_sampling=dict(min_crop_ratio=2.0)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
