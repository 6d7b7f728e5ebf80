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
# the base's pipelines at this file's sizes (the dataloaders are the base's)
def resized(pipeline, scale, crop=None):
    return [dict(t, scale=scale) if t['type'] == 'Resize' else dict(t, crop_size=crop) if t['type'] == 'RandomCrop' else t for t in pipeline]


source_train_pipeline = resized(_base_.source_train_pipeline, source_scale, crop_size)
target_train_pipeline = resized(_base_.target_train_pipeline, target_scale, crop_size)
test_pipeline = resized(_base_.test_pipeline, target_scale)
tta_pipeline = [_base_.tta_pipeline[0], dict(_base_.tta_pipeline[1], transforms=[
    [dict(t, scale=(int(target_scale[0] * r), int(target_scale[1] * r))) for t, r in zip(_base_.tta_pipeline[1].transforms[0], _base_.img_ratios)],
    *_base_.tta_pipeline[1].transforms[1:]])]
train_dataloader = dict(dataset=dict(
    source=dict(pipeline=source_train_pipeline), target=dict(pipeline=target_train_pipeline),
    rare_class_sampling=dict(min_crop_ratio=2.0)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
