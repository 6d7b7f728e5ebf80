# DACS self-training as configured by HRDA (docs/hrda.md): DAFormer's DACS
# (pseudo-label threshold 0.968, ClassMix, strong augmentation, ImageNet
# feature distance with lambda 0.005, EMA teacher with alpha 0.999) without
# the fixed top/bottom ignore rows. Instead the Cityscapes target pipelines
# of the 1024x1024 dataset bases build a `valid_pseudo_mask` (margins
# 30/240/30/30 px at 2048x1024) that DACS multiplies into the pseudo-label
# weight; ACDC / Dark Zurich targets have no mask (and no ignore region).
# The feature distance is computed on the first backbone call, which
# HRDAEncoderDecoder makes on the low-resolution context crop.
# RCS `min_crop_ratio=2.0` lives in the 1024x1024 dataset bases.
# An experiment wraps its segmentor with it:
#   model = dict(_delete_=True, segmentor=_base_.model, **_base_.uda)
_base_ = ['./dacs.py']
uda = dict(pseudo_weight_ignore_top=0, pseudo_weight_ignore_bottom=0)
