# Progressive feature refinement (PFR, docs/adversarial.md): AdaptSegNet's output-space
# adversarial loss (weight 0.002) plus style (Gram matrix) and content
# alignment of source and target features at ResNet stages 2-5 (weight
# 0.004). The choices the paper leaves open are options here (defaults and
# reasons in docs/adversarial.md): the Gram matrix divided by C*H*W, the
# output of the last block of each stage, the plain L2 norm of the
# differences (not averaged over elements), averaged over the image pairs,
# and the paper's direction: source features aligned to the target's (the
# target side of L_pfr detached).
uda = dict(
    type='PFR',
    discriminator=dict(
        type='FCDiscriminator',
        channels=(64, 128, 256, 512),
        negative_slope=0.2),
    gan_loss='bce',
    lambda_adv=0.002,
    source_label=0,
    target_label=1,
    pfr_loss=dict(
        type='PFRLoss',
        gram_norm='chw',
        style_distance='l2',
        content_distance='l2',
        style_weight=1.0,
        content_weight=1.0,
        loss_weight=0.004),
    feature_stages=(0, 1, 2, 3),
    feature_block=-1,
    align='source_to_target',
    predict_on='student')
# The scope prefix is needed: mmengine's Runner.wrap_model looks the type up
# with MODEL_WRAPPERS.get, which ignores the default scope.
model_wrapper_cfg = dict(type='UDADistributedDataParallel')
# exact resume: the global random states of every rank in checkpoints
custom_hooks = [dict(type='RandomStateHook')]
