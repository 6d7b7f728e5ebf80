# Small synthetic domain-shift data (GTA5-style source -> Cityscapes-style
# target) for tests and the quick-start; generate and convert it with
#   python tools/misc/generate_synthetic_uda.py data/synthetic_uda
# Another location: --cfg-options \
#   train_dataloader.dataset.source.data_root=ROOT/gta \
#   train_dataloader.dataset.target.data_root=ROOT/cityscapes \
#   val_dataloader.dataset.data_root=ROOT/cityscapes \
#   test_dataloader.dataset.data_root=ROOT/cityscapes
_base_ = ['./uda_gta_to_cityscapes_512x512.py']
from mmseg_uda.datasets.pipeline_sizes import resized_pipelines  # noqa: E402

data_root = 'data/synthetic_uda/'
source_data_root = data_root + 'gta/'
target_data_root = data_root + 'cityscapes/'
crop_size = (128, 128)
source_scale = (320, 180)
target_scale = (256, 128)
# the base's pipelines at this file's sizes (the dataloaders are the base's)
# with the target's valid_pseudo_mask: margins (top, bottom, left, right) at
# 2048x1024
source_train_pipeline, target_train_pipeline, test_pipeline, tta_pipeline = \
    resized_pipelines(_base_, crop_size, source_scale, target_scale, target_extra=[
        dict(type='GenerateValidPseudoMask', margins=(30, 240, 30, 30), ref_size=(2048, 1024))])
train_dataloader = dict(
    num_workers=2,
    dataset=dict(
        source=dict(data_root=source_data_root, pipeline=source_train_pipeline),
        target=dict(data_root=target_data_root, pipeline=target_train_pipeline),
        # tiny images: thresholds scaled down from the reference 3000 pixels
        rare_class_sampling=dict(min_pixels=50)))
val_dataloader = dict(num_workers=2, dataset=dict(data_root=target_data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
