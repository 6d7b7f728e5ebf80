# Small synthetic domain-shift data (GTA5-style source -> Cityscapes-style
# target) for tests and the quick-start; generate and convert it with
#   python tools/misc/generate_synthetic_uda.py data/synthetic_uda
# Another location: --cfg-options \
#   train_dataloader.dataset.source.data_root=ROOT/gta \
#   train_dataloader.dataset.target.data_root=ROOT/cityscapes \
#   val_dataloader.dataset.data_root=ROOT/cityscapes \
#   test_dataloader.dataset.data_root=ROOT/cityscapes
_base_ = ['./uda_gta_to_cityscapes_512x512.py']
data_root = 'data/synthetic_uda/'
source_data_root = data_root + 'gta/'
target_data_root = data_root + 'cityscapes/'
crop_size = (128, 128)
source_scale = (320, 180)
target_scale = (256, 128)
# the base's pipelines at this file's sizes (the dataloaders are the base's)
def resized(pipeline, scale, crop=None):
    return [dict(t, scale=scale) if t['type'] == 'Resize' else dict(t, crop_size=crop) if t['type'] == 'RandomCrop' else t for t in pipeline]


source_train_pipeline = resized(_base_.source_train_pipeline, source_scale, crop_size)
# valid_pseudo_mask: margins (top, bottom, left, right) at 2048x1024
target_train_pipeline = [_base_.target_train_pipeline[0], dict(type='GenerateValidPseudoMask', margins=(30, 240, 30, 30), ref_size=(2048, 1024)), *resized(_base_.target_train_pipeline, target_scale, crop_size)[1:]]
test_pipeline = resized(_base_.test_pipeline, target_scale)
tta_pipeline = [_base_.tta_pipeline[0], dict(_base_.tta_pipeline[1], transforms=[
    [dict(t, scale=(int(target_scale[0] * r), int(target_scale[1] * r))) for t, r in zip(_base_.tta_pipeline[1].transforms[0], _base_.img_ratios)],
    *_base_.tta_pipeline[1].transforms[1:]])]
train_dataloader = dict(
    num_workers=2,
    dataset=dict(
        source=dict(data_root=source_data_root, pipeline=source_train_pipeline),
        target=dict(data_root=target_data_root, pipeline=target_train_pipeline),
        # tiny images: thresholds scaled down from the reference 3000 pixels
        rare_class_sampling=dict(min_pixels=50)))
val_dataloader = dict(num_workers=2, dataset=dict(data_root=target_data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
