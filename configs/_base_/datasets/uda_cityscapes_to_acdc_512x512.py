# Cityscapes -> ACDC UDA data at DAFormer (crop 512).
# Source resized to 1024x512, target to 960x540; validation on
# the target's val split. Prepare the data as in docs/dataset_prepare.md.
source_data_root = 'data/cityscapes/'
target_data_root = 'data/acdc/'
crop_size = (512, 512)
source_scale = (1024, 512)
target_scale = (960, 540)
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
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='UDASampler', shuffle=True),
    dataset=dict(
        type='UDADataset',
        source=dict(
            type='CityscapesDataset',
            data_root=source_data_root,
            data_prefix=dict(
                img_path='leftImg8bit/train',
                seg_map_path='gtFine/train'),
            pipeline=source_train_pipeline),
        target=dict(
            type='ACDCDataset',
            data_root=target_data_root,
            data_prefix=dict(img_path='rgb_anon/train'),
            pipeline=target_train_pipeline),
        # statistics files in the source data_root (written by the converter)
        rare_class_sampling=dict(
            class_temp=0.01, min_pixels=3000, min_crop_ratio=0.5)))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ACDCDataset',
        data_root=target_data_root,
        data_prefix=dict(img_path='rgb_anon/val', seg_map_path='gt/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
