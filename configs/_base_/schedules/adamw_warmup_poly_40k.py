# DAFormer's optimisation (reference configs/_base_/schedules/adamw.py,
# poly10warm.py): AdamW 6e-5, head lr x10, no weight
# decay on pos_block/norm; linear warmup 1500 iterations from 1e-6 then
# poly(1.0) over all 40k iterations, exactly as the reference formula.
_base_ = ['../default_hooks.py']
optim_wrapper = dict(
    type='OptimWrapper',
    # the optimizer never sees the EMA teacher / frozen ImageNet backbone
    # (TrainableOptimWrapperConstructor), one parameter group per set of
    # options (not per parameter), and fused='auto': the fused AdamW kernel
    # on CUDA, torch's default on CPU (docs/train_test.md, "Speed")
    constructor='MergedGroupsOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW',
        lr=6e-05,
        betas=(0.9, 0.999),
        weight_decay=0.01,
        fused='auto'),
    # The reference's `norm` name key reached every norm of its MiT
    # (`norm1`, `norm2`, ...); mmseg 1.x names the stage-output LayerNorms
    # `backbone.layers.{i}.2`, so the norms are matched by type instead
    # (LayerNorm, BatchNorm, GroupNorm). As in the reference, the first
    # matching name key wins: the heads' norms keep the decay.
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        custom_keys=dict(
            head=dict(lr_mult=10.0), pos_block=dict(decay_mult=0.0))))
param_scheduler = [
    dict(
        type='WarmupPolyLR',
        max_iters=40000,
        warmup_iters=1500,
        warmup_ratio=1e-6,
        power=1.0,
        eta_min=0.0,
        by_epoch=False)
]
train_cfg = dict(
    type='UDAIterBasedTrainLoop', max_iters=40000, val_interval=4000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    # TF32 matmuls on Ampere+ GPUs (no effect on CPU); precision='highest'
    # for full fp32 (docs/train_test.md, "Speed")
    matmul_precision=dict(type='MatmulPrecisionHook', precision='high'))
