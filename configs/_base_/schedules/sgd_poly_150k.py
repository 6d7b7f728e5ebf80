# DeepLab-v2 optimisation of AdaptSegNet (Tsai et al., CVPR 2018; reference
# train_gta2cityscapes_multi.py): SGD lr 2.5e-4,
# momentum 0.9, weight decay 5e-4, the classifier (every `*head*`) at 10x lr,
# poly decay with power 0.9. The paper gives no iteration count; this
# follows the reference code: the poly decay is computed over 250k
# iterations (its NUM_STEPS) and training stops at 150k (NUM_STEPS_STOP),
# one source (+ one target) image per iteration; evaluation every 5k.
_base_ = ['../default_hooks.py']
max_iters = 150000
lr_horizon = 250000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=2.5e-4, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(custom_keys=dict(head=dict(lr_mult=10.0))))
param_scheduler = [
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.0,
        begin=0,
        end=lr_horizon,
        by_epoch=False)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(interval=5000))
