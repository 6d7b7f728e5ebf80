# Cityscapes -> ACDC UDA data at DAFormer (crop 512): the GTA5 -> Cityscapes
# data (uda_gta_to_cityscapes_512x512.py) with Cityscapes (resized to
# 1024x512) as the source and ACDC (960x540) as the target; validation on
# ACDC's val split. Prepare the data as in docs/dataset_prepare.md.
_base_ = ['./uda_gta_to_cityscapes_512x512.py']
from mmseg_uda.datasets.pipeline_sizes import resized_pipelines  # noqa: E402

source_data_root = 'data/cityscapes/'
target_data_root = 'data/acdc/'
crop_size = (512, 512)
source_scale = (1024, 512)
target_scale = (960, 540)
# the base's pipelines at this file's sizes (the dataloaders are the base's)
source_train_pipeline, target_train_pipeline, test_pipeline, tta_pipeline = \
    resized_pipelines(_base_, crop_size, source_scale, target_scale)
train_dataloader = dict(
    dataset=dict(
        source=dict(
            type='CityscapesDataset',
            data_root=source_data_root,
            data_prefix=dict(
                img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
            pipeline=source_train_pipeline),
        target=dict(
            type='ACDCDataset',
            data_root=target_data_root,
            data_prefix=dict(img_path='rgb_anon/train'),
            pipeline=target_train_pipeline)))
val_dataloader = dict(
    dataset=dict(
        type='ACDCDataset',
        data_root=target_data_root,
        data_prefix=dict(img_path='rgb_anon/val', seg_map_path='gt/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# tools/test.py on ACDC val: mmseg's IoU table and mIoU, plus the IoU per
# condition (fog, night, rain, snow) from the image paths
test_evaluator = dict(type='ConditionIoUMetric', iou_metrics=['mIoU'])
