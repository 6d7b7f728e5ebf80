# Cityscapes -> Dark Zurich UDA data at DAFormer (crop 512): the Cityscapes -> ACDC
# data with Dark Zurich's night images as the target (same resolution and
# pipelines); validation on Dark Zurich's val split.
_base_ = ['./uda_cityscapes_to_acdc_512x512.py']
target_data_root = 'data/dark_zurich/'
train_dataloader = dict(
    dataset=dict(
        target=dict(
            type='DarkZurichUDADataset',
            data_root=target_data_root,
            data_prefix=dict(img_path='rgb_anon/train/night'))))
val_dataloader = dict(
    dataset=dict(type='DarkZurichUDADataset', data_root=target_data_root))
test_dataloader = val_dataloader
# night only: mmseg's IoU metric, no per-condition table
test_evaluator = dict(type='IoUMetric')
