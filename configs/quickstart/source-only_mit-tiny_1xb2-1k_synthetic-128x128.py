# Quick-start baseline: the tiny DAFormer network trained on the synthetic
# source only, evaluated on the synthetic target.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/daformer_sepaspp_mit-tiny.py',
    '../_base_/datasets/synthetic_uda.py',
    '../_base_/schedules/adamw_warmup_poly_1k.py',
]
train_dataloader = dict(
    _delete_=True,
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=_base_.train_dataloader.dataset.source)
train_cfg = dict(type='IterBasedTrainLoop')
