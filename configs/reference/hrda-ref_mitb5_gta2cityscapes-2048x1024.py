# The released HRDA GTA->Cityscapes model (reference code, 73.79 mIoU) as a
# plain segmentor, with the reference test settings: Cityscapes val at full
# resolution 2048x1024, sliding 1024x1024 windows with stride 512, each
# window fused over the context (0.5) and detail (1.0, 512x512 sliding
# crops) scales with the learned scale attention.
# Weights: the student converted by
#   python tools/model_converters/reference_uda2mmseg.py \
#       gtaHR2csHR_hrda_246ef/iter_40000_relevant.pth hrda_gta2cs.pth
# then `python tools/test.py <this config> hrda_gta2cs.pth`
# (docs/reference_checkpoints.md). Test only: no training settings.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/hrda_daformer_sepaspp_mitb5_refeps.py',
    '../_base_/datasets/uda_gta_to_cityscapes_1024x1024.py',
]
model = dict(backbone=dict(init_cfg=None))
train_dataloader = None
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
