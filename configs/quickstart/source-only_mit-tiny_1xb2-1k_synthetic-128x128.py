# Quick-start baseline: the tiny DAFormer network trained on the synthetic
# source only, evaluated on the synthetic target.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/daformer_sepaspp_mit-tiny.py',
    '../_base_/datasets/synthetic_uda.py',
    '../_base_/schedules/adamw_warmup_poly_1k.py',
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
