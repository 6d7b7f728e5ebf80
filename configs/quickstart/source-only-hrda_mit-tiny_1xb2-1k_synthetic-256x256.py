# Quick-start baseline of HRDA: the tiny HRDA network (multi-resolution
# training with 128x128 context and detail crops of 256x256 crops) trained
# on the synthetic source only (as source-only_mit-tiny, at HRDA's scale),
# evaluated on the synthetic target.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/hrda_daformer_sepaspp_mit-tiny.py',
    '../_base_/datasets/synthetic_uda_hrda.py',
    '../_base_/schedules/adamw_warmup_poly_1k.py',
]
train_dataloader = dict(
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(_base_.train_dataloader.dataset.source, _delete_=True))
train_cfg = dict(type='IterBasedTrainLoop')
# validation must not move the training random stream (dropout, drop-path,
# the loaders' seeds): the same weights whatever the validation interval,
# as the UDA configs (docs/fault_tolerance.md)
custom_hooks = [dict(type='RandomStateHook')]
