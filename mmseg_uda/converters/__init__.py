"""Checkpoint converters (commands: ``tools/model_converters/``): reference
DAFormer/HRDA/MIC checkpoints -> mmseg_uda, UDA checkpoints -> plain mmseg
segmentors. Not imported by ``import mmseg_uda`` (nothing to register)."""
