# The synthetic domain-shift data of `synthetic_uda.py` at HRDA geometry:
# as HRDA trains on full-resolution images (Cityscapes 2048x1024 instead of
# DAFormer's 1024x512) with crops twice as large, the images are used at
# twice the DAFormer quick-start scale (source 640x360, target 512x256) with
# 256x256 crops (context 128x128, detail 128x128 crops in the model) and
# RCS `min_crop_ratio=2.0`. The target keeps its `valid_pseudo_mask`.
# Generate the data as described in `synthetic_uda.py`.
_base_ = ['./synthetic_uda.py']
from mmseg_uda.datasets.pipeline_sizes import resized_pipelines  # noqa: E402

crop_size = (256, 256)
source_scale = (640, 360)
target_scale = (512, 256)
# the base's pipelines at this file's sizes (the dataloaders are the base's)
source_train_pipeline, target_train_pipeline, test_pipeline, tta_pipeline = \
    resized_pipelines(_base_, crop_size, source_scale, target_scale)
train_dataloader = dict(dataset=dict(
    source=dict(pipeline=source_train_pipeline), target=dict(pipeline=target_train_pipeline),
    rare_class_sampling=dict(min_crop_ratio=2.0)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
