# Source-only baseline of HRDA: the same multi-resolution network and
# schedule trained on the labelled cityscapes images only (1024x1024 crops at
# full resolution), evaluated on the darkzurich val split.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/hrda_daformer_sepaspp_mitb5.py',
    '../_base_/datasets/uda_cityscapes_to_darkzurich_1024x1024.py',
    '../_base_/schedules/adamw_warmup_poly_40k.py',
]
# the base's loader with a plain sampler and the source dataset only
train_dataloader = dict(
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(_delete_=True, **_base_.train_dataloader.dataset.source))
train_cfg = dict(type='IterBasedTrainLoop')
# validation must not move the training random stream (dropout, drop-path,
# the loaders' seeds): the same weights whatever the validation interval,
# as the UDA configs (docs/fault_tolerance.md)
custom_hooks = [dict(type='RandomStateHook')]
