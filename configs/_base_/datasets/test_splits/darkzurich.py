# Dark Zurich test split (no labels; rgb_anon/test/night/<sequence>/, 151
# images) and its submission writer (labelTrainIds/, labelTrainIds_invalid/,
# confidence/):
#   python tools/test.py CONFIG CHECKPOINT --submit darkzurich
# A diff of the target's dataset base; --submit takes its test dataset and
# evaluator into the config and keeps the config's test pipeline
# without its label loading (docs/submit.md).
_base_ = ['../uda_cityscapes_to_darkzurich_512x512.py']
test_dataloader = dict(
    dataset=dict(
        data_prefix=dict(_delete_=True, img_path='rgb_anon/test/night')))
test_evaluator = dict(
    _delete_=True,
    type='DarkZurichSubmissionMetric',
    expected_images=151,
    # softmax maximum under which labelTrainIds_invalid/ holds 255 (UIoU
    # only; mIoU is read from labelTrainIds/)
    invalid_threshold=0.5)
# --tta: the averaged softmax stays with the prediction (the confidences)
tta_model = dict(type='SegTTASoftmaxModel')
