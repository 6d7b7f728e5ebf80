# The released DAFormer GTA->Cityscapes model (reference code, 68.85 mIoU)
# as a plain segmentor, with the reference test settings: Cityscapes val
# resized to 1024x512, whole-image inference, labels at full resolution.
# Weights: the student converted by
#   python tools/model_converters/reference_uda2mmseg.py \
#       gta2cs_daformer/iter_40000_relevant.pth daformer_gta2cs.pth
# then `python tools/test.py <this config> daformer_gta2cs.pth`
# (docs/reference_checkpoints.md). Test only: no training settings.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/daformer_sepaspp_mitb5_refeps.py',
    '../_base_/datasets/uda_gta_to_cityscapes_512x512.py',
]
# every weight comes from the converted checkpoint
model = dict(backbone=dict(init_cfg=None))
train_dataloader = None
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
