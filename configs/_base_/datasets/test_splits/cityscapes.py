# Cityscapes test split (no labels; leftImg8bit/test/<city>/, 1525 images)
# and its submission writer (labelIds, as cityscapesScripts evaluates):
#   python tools/test.py CONFIG CHECKPOINT --submit cityscapes
# A diff of the target's dataset base; --submit takes its test dataset and
# evaluator into the config and keeps the config's test pipeline
# without its label loading (docs/submit.md).
_base_ = ['../uda_gta_to_cityscapes_512x512.py']
test_dataloader = dict(
    dataset=dict(
        data_prefix=dict(_delete_=True, img_path='leftImg8bit/test')))
test_evaluator = dict(
    _delete_=True,
    type='CityscapesSubmissionMetric',
    expected_images=1525)
tta_model = dict(type='SegTTASoftmaxModel')
