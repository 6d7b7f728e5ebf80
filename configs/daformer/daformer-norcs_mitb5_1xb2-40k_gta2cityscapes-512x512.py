# DAFormer ablation: GTA -> Cityscapes without rare class sampling.
_base_ = ['./daformer_mitb5_1xb2-40k_gta2cityscapes-512x512.py']
train_dataloader = dict(dataset=dict(rare_class_sampling=None))
