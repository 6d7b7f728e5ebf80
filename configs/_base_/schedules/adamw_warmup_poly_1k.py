# A short schedule for CPU runs on the synthetic data: DAFormer's optimiser
# at a higher learning rate (a tiny randomly initialised model), 1k
# iterations with a 100-iteration warmup, validation every 250.
_base_ = ['./adamw_warmup_poly_40k.py']
max_iters = 1000
optim_wrapper = dict(optimizer=dict(lr=6e-4))
param_scheduler = [
    dict(
        type='WarmupPolyLR',
        max_iters=max_iters,
        warmup_iters=100,
        warmup_ratio=1e-6,
        power=1.0,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=250)
default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(interval=250, max_keep_ckpts=1))
