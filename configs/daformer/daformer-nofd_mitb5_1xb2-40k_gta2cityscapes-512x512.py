# DAFormer ablation: GTA -> Cityscapes without the ImageNet feature distance.
_base_ = ['./daformer_mitb5_1xb2-40k_gta2cityscapes-512x512.py']
model = dict(imnet_feature_dist=None)
