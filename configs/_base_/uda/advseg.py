# Output-space adversarial training, single level (AdaptSegNet,
# docs/adversarial.md):
# FCDiscriminator on the softmax of the upsampled main output, BCE with
# logits, source label 0 / target label 1, adversarial weight 0.001. An
# experiment wraps its segmentor with it:
#   model = dict(_delete_=True, segmentor=_base_.model, **_base_.uda)
# and uses an optimizer per child (schedules/sgd_adam_poly_150k.py).
uda = dict(
    type='AdaptSegNet',
    # each branch of the UDA batches (source, target) goes through the
    # segmentor's own data_preprocessor
    data_preprocessor=dict(type='UDADataPreProcessor'),
    discriminator=dict(
        type='FCDiscriminator',
        channels=(64, 128, 256, 512),
        negative_slope=0.2),
    aux_discriminator=None,
    gan_loss='bce',
    lambda_adv=0.001,
    lambda_adv_aux=0.0002,
    source_label=0,
    target_label=1,
    predict_on='student')
# The student and each discriminator in its own DDP; the model's own
# train_step runs (gradients all-reduced once per optimizer and step).
# The scope prefix is needed: mmengine's Runner.wrap_model looks the type up
# with MODEL_WRAPPERS.get, which ignores the default scope.
model_wrapper_cfg = dict(type='UDADistributedDataParallel')
# exact resume: the global random states of every rank in checkpoints;
# label-free health at each validation (entropy, collapse alarm;
# docs/model_selection.md)
custom_hooks = [dict(type='RandomStateHook'),
                dict(type='SelfTrainingHealthHook')]
