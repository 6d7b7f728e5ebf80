# Source-only baseline of HRDA: the same multi-resolution network and
# schedule trained on the labelled synthia images only (1024x1024 crops at
# full resolution), evaluated on the cityscapes val split.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/hrda_daformer_sepaspp_mitb5.py',
    '../_base_/datasets/uda_synthia_to_cityscapes_1024x1024.py',
    '../_base_/schedules/adamw_warmup_poly_40k.py',
]
train_dataloader = dict(
    _delete_=True,
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=_base_.train_dataloader.dataset.source)
train_cfg = dict(type='IterBasedTrainLoop')
