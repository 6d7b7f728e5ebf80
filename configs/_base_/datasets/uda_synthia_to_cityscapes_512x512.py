# SYNTHIA -> Cityscapes UDA data at DAFormer (crop 512): the GTA5 ->
# Cityscapes data with SYNTHIA (resized to 1280x760) as the source;
# evaluated over all 19, the 16 SYNTHIA and the 13 usual classes.
_base_ = ['./uda_gta_to_cityscapes_512x512.py']
source_data_root = 'data/synthia/'
source_scale = (1280, 760)
# the base's source pipeline at the SYNTHIA scale
source_train_pipeline = [dict(t, scale=source_scale) if t['type'] == 'Resize' else t for t in _base_.source_train_pipeline]
train_dataloader = dict(
    dataset=dict(
        source=dict(
            type='SynthiaDataset',
            data_root=source_data_root,
            data_prefix=dict(img_path='RGB', seg_map_path='GT/LABELS'),
            pipeline=source_train_pipeline)))
val_evaluator = dict(
    type='ClassSubsetIoUMetric',
    iou_metrics=['mIoU'],
    # 16 SYNTHIA classes (no terrain, truck, train) and the 13 of the
    # literature (the 16 minus wall, fence, pole), as Cityscapes trainIds.
    class_subsets=dict(
        mIoU16=[0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18],
        mIoU13=[0, 1, 2, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18]))
test_evaluator = val_evaluator
