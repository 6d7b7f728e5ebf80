# The released MIC (HRDA) GTA->Cityscapes model (reference code, 75.9 mIoU
# in the paper) as a plain segmentor. MIC adds a training loss only: the
# network and the test settings are HRDA's (sliding 1024x1024 windows with
# stride 512, fused multi-resolution inference at 2048x1024).
# Weights: the student converted by
#   python tools/model_converters/reference_uda2mmseg.py \
#       gtaHR2csHR_mic_hrda_650a8/iter_40000_relevant.pth mic_gta2cs.pth
# then `python tools/test.py <this config> mic_gta2cs.pth`
# (docs/reference_checkpoints.md). Test only: no training settings.
_base_ = ['./hrda-ref_mitb5_gta2cityscapes-2048x1024.py']
