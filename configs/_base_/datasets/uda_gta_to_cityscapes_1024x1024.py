# GTA5 -> Cityscapes UDA data at HRDA (full resolution, crop 1024): the
# DAFormer data (uda_gta_to_cityscapes_512x512.py) with source 2560x1440,
# target 2048x1024, the target's valid_pseudo_mask and RCS min_crop_ratio 2.
_base_ = ['./uda_gta_to_cityscapes_512x512.py']
from mmseg_uda.datasets.pipeline_sizes import resized_pipelines  # noqa: E402

crop_size = (1024, 1024)
source_scale = (2560, 1440)
target_scale = (2048, 1024)
# the base's pipelines at this file's sizes (the dataloaders are the base's)
# with the target's valid_pseudo_mask: margins (top, bottom, left, right) at
# 2048x1024
source_train_pipeline, target_train_pipeline, test_pipeline, tta_pipeline = \
    resized_pipelines(_base_, crop_size, source_scale, target_scale, target_extra=[
        dict(type='GenerateValidPseudoMask', margins=(30, 240, 30, 30), ref_size=(2048, 1024))])
train_dataloader = dict(dataset=dict(
    source=dict(pipeline=source_train_pipeline), target=dict(pipeline=target_train_pipeline),
    rare_class_sampling=dict(min_crop_ratio=2.0)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
