# Adversarial training (AdaptSegNet, docs/adversarial.md): the segmentation network
# (`student`) with the SGD schedule of sgd_poly_150k.py, the discriminator
# with Adam lr 1e-4, betas (0.9, 0.99), no weight decay; both with poly 0.9
# over the same 250k-iteration horizon, training stops at 150k. One
# optimizer wrapper per child module (an mmengine OptimWrapperDict); the
# `param_scheduler` list applies to every optimizer. The multi-level model
# adds an `aux_discriminator` entry (see configs/advseg).
_base_ = ['./sgd_poly_150k.py']
discriminator_optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0))
optim_wrapper = dict(
    _delete_=True,
    constructor='MultiOptimWrapperConstructor',
    student=_base_.optim_wrapper,
    discriminator=discriminator_optim_wrapper)
train_cfg = dict(type='UDAIterBasedTrainLoop')
