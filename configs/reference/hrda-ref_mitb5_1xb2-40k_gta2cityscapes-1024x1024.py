# HRDA (DACS with the HRDA segmentor, RCS, ImageNet feature distance on the
# context features) for continued training or teacher evaluation of a
# converted reference checkpoint (student, EMA teacher, ImageNet backbone):
#   python tools/model_converters/reference_uda2mmseg.py \
#       <run>/iter_40000.pth hrda_gta2cs_uda.pth --target uda
# The reference MiT LayerNorm eps. Pseudo-label weights are zeroed outside
# the valid_pseudo_mask of the 1024x1024 data (margins 30/240/30/30), not in
# DAFormer's top/bottom rows.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/hrda_daformer_sepaspp_mitb5_refeps.py',
    '../_base_/datasets/uda_gta_to_cityscapes_1024x1024.py',
    '../_base_/uda/dacs.py',
    '../_base_/schedules/adamw_warmup_poly_40k.py',
]
model = dict(_delete_=True, segmentor=_base_.model, **_base_.uda)
model['segmentor']['backbone']['init_cfg'] = None  # all in the checkpoint
model.update(pseudo_weight_ignore_top=0, pseudo_weight_ignore_bottom=0)
