# Cityscapes -> ACDC UDA data at HRDA (full resolution, crop 1024): the
# DAFormer data (uda_cityscapes_to_acdc_512x512.py) with source 2048x1024,
# target 1920x1080 and RCS min_crop_ratio 2 (no pseudo-label mask).
_base_ = ['./uda_cityscapes_to_acdc_512x512.py']
crop_size = (1024, 1024)
source_scale = (2048, 1024)
target_scale = (1920, 1080)
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
