# AdaptSegNet, multi-level (the published 42.4 mIoU setting): DeepLab-v2
# ResNet-101 with a second classifier on stage 4 (seg loss weight 0.1) and
# one discriminator per output level (adversarial weights 0.001 main, 0.0002
# auxiliary); gta -> cityscapes, one source + one target 512x512 crop per
# iteration (the reference uses whole images resized to 1280x720 and
# 1024x512; this project's crops, see docs/adversarial.md), no rare class
# sampling.
# The single-level config plus the auxiliary classifier (the main one on
# stage 4, seg loss weight 0.1) and its discriminator.
_base_ = ['./advseg-single_deeplabv2-r101_1xb1-150k_gta2cityscapes-512x512.py']
segmentor = _base_.model.segmentor
segmentor.update(
    auxiliary_head=dict(
        segmentor.decode_head,
        in_channels=1024,
        in_index=2,
        loss_decode=dict(segmentor.decode_head.loss_decode, loss_weight=0.1)))
# (the base's aux_discriminator is None)
model = dict(
    segmentor=segmentor,
    aux_discriminator=dict(_delete_=True, **_base_.model.discriminator))
optim_wrapper = dict(
    aux_discriminator=_base_.discriminator_optim_wrapper)
