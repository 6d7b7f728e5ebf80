# The hooks of every iteration-based schedule, all declared here so that a
# dumped config shows them (docs/fault_tolerance.md). mmengine merges
# `default_hooks` by key: a config changes one hook with e.g.
#   default_hooks = dict(nonfinite=dict(action='skip'))
# Exact resume of the random draws (RandomStateHook) is a UDA hook: the UDA
# method bases list it in `custom_hooks`.
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # atomic saves, the previous checkpoint kept, --resume skips a damaged
    # latest checkpoint
    checkpoint=dict(
        type='SafeCheckpointHook',
        by_epoch=False,
        interval=4000,
        max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
    # SIGTERM (pre-emption, time limit): checkpoint, then a clean stop
    preemption=dict(type='PreemptionHook', signals=('SIGTERM', )),
    # a non-finite loss or gradient stops training (the step not applied)
    nonfinite=dict(type='NonFiniteGuardHook', action='raise'),
    # unreadable training samples replaced by the dataset: logged, counted,
    # training stops past the limit
    bad_samples=dict(type='BadSampleHook', max_bad_samples=100),
    # the config and the data checked before the first iteration (and
    # before validation/testing), in every entry point; max_samples: files
    # per dataset decoded (docs/own_data.md)
    preflight=dict(type='PreflightCheckHook', max_samples=64))
