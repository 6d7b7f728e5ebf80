# MIC (masked image consistency, docs/mic.md), a plug-in of DACS: the student
# also learns from block-masked target images with the EMA teacher's
# pseudo-labels and weights of the unmasked images. Defaults of MIC(HRDA) on
# GTA/Synthia -> Cityscapes. Add it to a DACS experiment (DAFormer, HRDA):
#   _base_ = ['../hrda/<experiment>.py', '../_base_/uda/mic.py']
#   model = dict(mic=_base_.mic)
mic = dict(
    type='MaskedImageConsistency',
    # 64 px blocks at full resolution (HRDA, 1024 crops); 32 px at DAFormer's
    # half resolution (512 crops). 70 % of the blocks are masked.
    mask_generator=dict(
        type='BlockMaskGenerator', mask_ratio=0.7, block_size=64),
    loss_weight=1.0,
    # colour jitter + blur before masking (synthetic sources); off for
    # Cityscapes -> ACDC / Dark Zurich
    augment=True,
    color_jitter_strength=0.2,
    color_jitter_prob=0.8,
    blur=True,
    # None: the pseudo-label weight of DACS (threshold 0.968); a float: an
    # own confidence threshold on the same teacher prediction
    pseudo_threshold=None,
    # True: also mask the source images (with their labels, weight 1)
    mask_source=False)
