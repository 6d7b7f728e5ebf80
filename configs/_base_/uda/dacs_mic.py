# DACS self-training with MIC (masked image consistency, SPEC 2.7): the
# student also learns from block-masked target images with the teacher's
# pseudo-labels and weights of the unmasked images. Defaults of MIC(HRDA)
# on GTA/Synthia -> Cityscapes; an experiment wraps its segmentor with it:
#   model = dict(_delete_=True, segmentor=_base_.model, **_base_.uda)
_base_ = ['./dacs.py']
uda = dict(
    mic=dict(
        type='MaskedImageConsistency',
        # 64 px blocks at full resolution (HRDA, 1024 crops); 32 px at
        # DAFormer's half resolution (512 crops). 70 % of blocks masked.
        mask_generator=dict(
            type='BlockMaskGenerator', mask_ratio=0.7, block_size=64),
        loss_weight=1.0,
        # colour jitter + blur before masking (synthetic sources); off for
        # Cityscapes -> ACDC / Dark Zurich
        augment=True,
        color_jitter_strength=0.2,
        color_jitter_prob=0.8,
        blur=True,
        # None: the pseudo-label weight of DACS (threshold 0.968)
        pseudo_threshold=None,
        # True: also mask the source images (with their labels)
        mask_source=False))
# Scope prefix: mmengine's Runner.wrap_model looks the wrapper type up with
# MODEL_WRAPPERS.get, which ignores the default scope (dacs.py lacks it).
model_wrapper_cfg = dict(type='mmseg.UDADistributedDataParallel')
