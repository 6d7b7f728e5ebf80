# DAFormer ablation: GTA -> Cityscapes without learning-rate warmup (poly from the base lr).
_base_ = ['./daformer_mitb5_1xb2-40k_gta2cityscapes-512x512.py']
param_scheduler = [
    dict(type='WarmupPolyLR', max_iters=40000, warmup_iters=0, by_epoch=False)
]
