# Cityscapes -> ACDC UDA data at HRDA (full resolution, crop 1024): the
# DAFormer data (uda_cityscapes_to_acdc_512x512.py) with source 2048x1024,
# target 1920x1080 and RCS min_crop_ratio 2 (no pseudo-label mask).
_base_ = ['./uda_cityscapes_to_acdc_512x512.py']
from mmseg_uda.datasets.pipeline_sizes import resized_pipelines  # noqa: E402

crop_size = (1024, 1024)
source_scale = (2048, 1024)
target_scale = (1920, 1080)
# the base's pipelines at this file's sizes (the dataloaders are the base's)
source_train_pipeline, target_train_pipeline, test_pipeline, tta_pipeline = \
    resized_pipelines(_base_, crop_size, source_scale, target_scale)
train_dataloader = dict(dataset=dict(
    source=dict(pipeline=source_train_pipeline), target=dict(pipeline=target_train_pipeline),
    rare_class_sampling=dict(min_crop_ratio=2.0)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
