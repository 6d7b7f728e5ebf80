# Small synthetic domain-shift data (GTA5-style source -> Cityscapes-style
# target) for tests and the quick-start; generate and convert it with
#   python tools/misc/generate_synthetic_uda.py data/synthetic_uda
# Another location: --cfg-options \
#   train_dataloader.dataset.source.data_root=ROOT/gta \
#   train_dataloader.dataset.target.data_root=ROOT/cityscapes \
#   val_dataloader.dataset.data_root=ROOT/cityscapes \
#   test_dataloader.dataset.data_root=ROOT/cityscapes
data_root = 'data/synthetic_uda/'
source_data_root = data_root + 'gta/'
target_data_root = data_root + 'cityscapes/'
crop_size = (128, 128)
source_scale = (320, 180)
target_scale = (256, 128)
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
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='UDASampler', shuffle=True),
    dataset=dict(
        type='UDADataset',
        source=dict(
            type='GTA5Dataset',
            data_root=source_data_root,
            data_prefix=dict(img_path='images', seg_map_path='labels'),
            pipeline=source_train_pipeline),
        target=dict(
            type='CityscapesDataset',
            data_root=target_data_root,
            data_prefix=dict(img_path='leftImg8bit/train'),
            pipeline=target_train_pipeline),
        # tiny images: thresholds scaled down from the reference 3000 pixels
        rare_class_sampling=dict(
            class_temp=0.01, min_pixels=50, min_crop_ratio=0.5)))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CityscapesDataset',
        data_root=target_data_root,
        data_prefix=dict(
            img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
