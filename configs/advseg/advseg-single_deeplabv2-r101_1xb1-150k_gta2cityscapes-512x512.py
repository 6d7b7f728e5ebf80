# AdaptSegNet, single level (output space of the main classifier only,
# adversarial weight 0.001); gta -> cityscapes as the multi-level config.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/deeplabv2_r101.py',
    '../_base_/datasets/uda_gta_to_cityscapes_512x512.py',
    '../_base_/uda/advseg.py',
    '../_base_/schedules/sgd_adam_poly_150k.py',
]
model = dict(_delete_=True, segmentor=_base_.model, **_base_.uda)
train_dataloader = dict(
    batch_size=1, dataset=dict(rare_class_sampling=None))
