# DAFormer ablation: GTA -> Cityscapes with EMA rate 0.99 (the DACS base config's value).
_base_ = ['./daformer_mitb5_1xb2-40k_gta2cityscapes-512x512.py']
custom_hooks = [
    dict(type='EMATeacherHook', alpha=0.99),
    dict(type='UDAVisualizationHook', interval=1000),
    dict(type='RandomStateHook'),
]
