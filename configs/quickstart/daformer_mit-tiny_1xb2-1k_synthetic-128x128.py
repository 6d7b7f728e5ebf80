# Quick-start: DAFormer (tiny MiT, DACS + RCS + feature distance + warmup) on
# the generated synthetic GTA-style -> Cityscapes-style data, on CPU.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/daformer_sepaspp_mit-tiny.py',
    '../_base_/datasets/synthetic_uda.py',
    '../_base_/uda/dacs.py',
    '../_base_/schedules/adamw_warmup_poly_1k.py',
]
model = dict(_delete_=True, segmentor=_base_.model, **_base_.uda)
# The tiny crop is 128 px high: the reference ignores the top 15 and bottom
# 120 rows of 512 px crops; scale them.
model.update(pseudo_weight_ignore_top=4, pseudo_weight_ignore_bottom=30)
