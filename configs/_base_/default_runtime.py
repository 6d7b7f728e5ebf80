# Runtime shared by every mmseg_uda config (mmseg's default_runtime plus
# the plugin import).
default_scope = 'mmseg'
custom_imports = dict(imports=['mmseg_uda'], allow_failed_imports=False)
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
tta_model = dict(type='SegTTAModel')
# A fixed seed, as the reference configs (seed 0): two runs of a config draw
# the same initialisation, data order and augmentation. One seed on every
# rank; UDASampler shards the data stream by rank. tools/train.py --seed /
# --deterministic override it (docs/fault_tolerance.md, reproducibility).
randomness = dict(seed=0)
