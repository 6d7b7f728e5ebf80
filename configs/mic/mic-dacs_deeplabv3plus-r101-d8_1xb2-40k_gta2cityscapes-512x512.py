# MIC on mmseg's DeepLabV3+ (ResNet-101-D8): DACS as configured by DAFormer
# plus masked image consistency, gta -> cityscapes at 512x512 crops.
_base_ = [
    '../dacs/dacs_deeplabv3plus-r101-d8_1xb2-40k_gta2cityscapes-512x512.py',
    '../_base_/uda/mic.py',
]
model = dict(mic=_base_.mic)
# half resolution (512 crops): half the block size of MIC(HRDA)
model['mic']['mask_generator']['block_size'] = 32
