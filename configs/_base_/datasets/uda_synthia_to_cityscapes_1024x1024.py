# SYNTHIA -> Cityscapes UDA data at HRDA (full resolution, crop 1024).
# Source resized to 2560x1520, target to 2048x1024; validation on
# the target's val split. Prepare the data as in docs/dataset_prepare.md.
source_data_root = 'data/synthia/'
target_data_root = 'data/cityscapes/'
crop_size = (1024, 1024)
source_scale = (2560, 1520)
target_scale = (2048, 1024)
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
    # valid_pseudo_mask: margins (top, bottom, left, right) at 2048x1024
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
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='UDASampler', shuffle=True),
    dataset=dict(
        type='UDADataset',
        source=dict(
            type='SynthiaDataset',
            data_root=source_data_root,
            data_prefix=dict(img_path='RGB', seg_map_path='GT/LABELS'),
            pipeline=source_train_pipeline),
        target=dict(
            type='CityscapesDataset',
            data_root=target_data_root,
            data_prefix=dict(img_path='leftImg8bit/train'),
            pipeline=target_train_pipeline),
        # statistics files in the source data_root (written by the converter)
        rare_class_sampling=dict(
            class_temp=0.01, min_pixels=3000, min_crop_ratio=2.0)))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CityscapesDataset',
        data_root=target_data_root,
        data_prefix=dict(
            img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='ClassSubsetIoUMetric',
    iou_metrics=['mIoU'],
    # 16 SYNTHIA classes (no terrain, truck, train) and the 13 of the
    # literature (the 16 minus wall, fence, pole), as Cityscapes trainIds.
    class_subsets=dict(
        mIoU16=[0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18],
        mIoU13=[0, 1, 2, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18]))
test_evaluator = val_evaluator
