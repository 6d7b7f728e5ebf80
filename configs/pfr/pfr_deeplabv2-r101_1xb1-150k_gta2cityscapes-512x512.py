# PFR (published 44.5 mIoU): DeepLab-v2 ResNet-101, style + content
# alignment at stages 2-5 (weight 0.004) and single-level output-space
# adversarial learning (weight 0.002), AdaptSegNet's optimisation; gta ->
# cityscapes, one source + one target 512x512 crop per iteration (PFR's
# content loss needs equal source and target crop sizes), no rare class
# sampling.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/deeplabv2_r101.py',
    '../_base_/datasets/uda_gta_to_cityscapes_512x512.py',
    '../_base_/uda/pfr.py',
    '../_base_/schedules/sgd_adam_poly_150k.py',
]
model = dict(_delete_=True, segmentor=_base_.model, **_base_.uda)
train_dataloader = dict(
    batch_size=1, dataset=dict(rare_class_sampling=None))
