# Source-only baseline of AdaptSegNet/PFR: DeepLab-v2 ResNet-101 with the
# same SGD schedule trained on the labelled synthia crops only (one per
# iteration), evaluated on the target val split.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/deeplabv2_r101.py',
    '../_base_/datasets/uda_synthia_to_cityscapes_512x512.py',
    '../_base_/schedules/sgd_poly_150k.py',
]
# the base's loader with a plain sampler and the source dataset only
train_dataloader = dict(
    batch_size=1,
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(_delete_=True, **_base_.train_dataloader.dataset.source))
# validation must not move the training random stream (dropout, drop-path,
# the loaders' seeds): the same weights whatever the validation interval,
# as the UDA configs (docs/fault_tolerance.md)
custom_hooks = [dict(type='RandomStateHook')]
