# Progressive feature refinement (PFR, docs/adversarial.md): AdaptSegNet's output-space
# adversarial loss (weight 0.002) plus style (Gram matrix) and content
# alignment of source and target features at ResNet stages 2-5 (weight
# 0.004). The choices the paper leaves open are options here (defaults and
# reasons in docs/adversarial.md): the Gram matrix divided by C*H*W, the
# output of the last block of each stage, the plain L2 norm of the
# differences (not averaged over elements), averaged over the image pairs,
# and the paper's direction: source features aligned to the target's (the
# target side of L_pfr detached).
# AdaptSegNet's discriminator, labels, DDP wrapper and hooks (advseg.py).
_base_ = ['./advseg.py']
uda = dict(
    _delete_=True,
    type='PFR',
    data_preprocessor=_base_.uda.data_preprocessor,
    discriminator=_base_.uda.discriminator,
    gan_loss=_base_.uda.gan_loss,
    lambda_adv=0.002,
    source_label=_base_.uda.source_label,
    target_label=_base_.uda.target_label,
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
