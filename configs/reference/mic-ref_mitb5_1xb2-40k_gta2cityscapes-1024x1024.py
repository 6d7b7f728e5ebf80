# MIC(HRDA) (DACS + masked image consistency, HRDA segmentor) for continued
# training or teacher evaluation of a converted reference checkpoint
# (student, EMA teacher, ImageNet backbone; MIC's own module holds no
# weights in the released configuration):
#   python tools/model_converters/reference_uda2mmseg.py \
#       <run>/iter_40000.pth mic_gta2cs_uda.pth --target uda
# The reference HRDA config (reference MiT LayerNorm eps) with MIC as in
# mic/mic-hrda_mitb5_1xb2-40k_gta2cityscapes-1024x1024.py.
_base_ = [
    './hrda-ref_mitb5_1xb2-40k_gta2cityscapes-1024x1024.py',
    '../_base_/uda/mic.py',
]
model = dict(mic=_base_.mic)
