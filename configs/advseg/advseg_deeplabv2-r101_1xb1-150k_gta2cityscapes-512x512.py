# AdaptSegNet, multi-level (the published 42.4 mIoU setting): DeepLab-v2
# ResNet-101 with a second classifier on stage 4 (seg loss weight 0.1) and
# one discriminator per output level (adversarial weights 0.001 main, 0.0002
# auxiliary); gta -> cityscapes, one source + one target 512x512 crop per
# iteration (the reference uses whole images resized to 1280x720 and
# 1024x512; this project's crops, see docs/adversarial.md), no rare class
# sampling.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/deeplabv2_r101.py',
    '../_base_/datasets/uda_gta_to_cityscapes_512x512.py',
    '../_base_/uda/advseg.py',
    '../_base_/schedules/sgd_adam_poly_150k.py',
]
segmentor = _base_.model
# the auxiliary classifier: the main one on stage 4, seg loss weight 0.1
segmentor.update(
    auxiliary_head=dict(
        segmentor.decode_head,
        in_channels=1024,
        in_index=2,
        loss_decode=dict(segmentor.decode_head.loss_decode, loss_weight=0.1)))
model = dict(
    _delete_=True,
    segmentor=segmentor,
    **_base_.uda,
)
model.update(aux_discriminator=model['discriminator'])
optim_wrapper = dict(
    aux_discriminator=_base_.discriminator_optim_wrapper)
train_dataloader = dict(
    batch_size=1, dataset=dict(rare_class_sampling=None))
