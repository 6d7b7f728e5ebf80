# DACS self-training as configured by DAFormer (reference
# configs/_base_/uda/dacs.py and its gta2cs_uda_warm_fdthings_rcs_croppl_a999
# experiment; docs/configs.md). An experiment
# wraps its segmentor with it:
#   model = dict(_delete_=True, segmentor=_base_.model, **_base_.uda)
uda = dict(
    type='DACS',
    # each branch of the UDA batches (source, target) goes through the
    # segmentor's own data_preprocessor
    data_preprocessor=dict(type='UDADataPreProcessor'),
    pseudo_threshold=0.968,
    pseudo_weight_ignore_top=15,
    pseudo_weight_ignore_bottom=120,
    classmix_per_image=False,
    color_jitter_strength=0.2,
    color_jitter_prob=0.8,
    blur=True,
    imnet_feature_dist=dict(
        type='FeatureDistanceLoss',
        classes=[6, 7, 11, 12, 13, 14, 15, 16, 17, 18],
        num_classes=19,
        scale_min_ratio=0.75,
        loss_weight=0.005),
    predict_on='student')
custom_hooks = [
    dict(type='EMATeacherHook', alpha=0.999),
    # source / target / pseudo-label / confidence / mixed image and label
    dict(type='UDAVisualizationHook', interval=1000),
    # exact resume: the global random states of every rank in checkpoints
    dict(type='RandomStateHook'),
    # label-free health at each validation: confident share, teacher-student
    # agreement, entropy, collapse alarm, self-training-off warning
    # (docs/model_selection.md)
    dict(type='SelfTrainingHealthHook'),
]
# Each trainable child (the student) in its own DDP; the model's own
# train_step runs (several backward passes, one gradient sync).
model_wrapper_cfg = dict(type='UDADistributedDataParallel')
