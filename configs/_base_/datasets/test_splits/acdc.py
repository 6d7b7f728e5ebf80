# ACDC test split (no labels; rgb_anon/<condition>/test/<sequence>/ as
# downloaded, 500 images per condition) and its submission writer:
#   python tools/test.py CONFIG CHECKPOINT --submit acdc
# A diff of the target's dataset base; --submit takes its test dataset and
# evaluator into the config and keeps the config's test pipeline
# without its label loading (docs/submit.md).
# One run writes acdc_test.zip (all conditions) and acdc_test_<condition>.zip.
_base_ = ['../uda_cityscapes_to_acdc_512x512.py']
test_dataloader = dict(
    dataset=dict(
        data_prefix=dict(_delete_=True, img_path='rgb_anon'),
        split='test',
        conditions=('fog', 'night', 'rain', 'snow')))
test_evaluator = dict(
    _delete_=True,
    type='ACDCSubmissionMetric',
    images_per_condition=500)
# --tta: the averaged softmax stays with the prediction
tta_model = dict(type='SegTTASoftmaxModel')
