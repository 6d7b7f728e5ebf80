# Source-only baseline of AdaptSegNet/PFR: DeepLab-v2 ResNet-101 with the
# same SGD schedule trained on the labelled synthia crops only (one per
# iteration), evaluated on the target val split.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/deeplabv2_r101.py',
    '../_base_/datasets/uda_synthia_to_cityscapes_512x512.py',
    '../_base_/schedules/sgd_poly_150k.py',
]
train_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=_base_.train_dataloader.dataset.source)
