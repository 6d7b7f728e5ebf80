"""Shared set-up of ``tools/train.py`` and ``tools/test.py``: the config
edits every launch needs, so users never edit configs per machine."""
import os
import os.path as osp

import torch


def _replace_sync_bn(node) -> int:
    """Turn every ``SyncBN`` norm config into ``BN``, in place; returns how
    many were replaced."""
    count = 0
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
            count += 1
        for value in node.values():
            count += _replace_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += _replace_sync_bn(value)
    return count


def setup_cpu_distributed(cfg, launcher: str) -> bool:
    """Make ``--launcher pytorch`` work on a machine without CUDA.

    Gap: mmengine's ``init_dist`` calls ``torch.cuda.set_device`` and its
    ``wrap_model`` passes ``device_ids=[LOCAL_RANK]`` to DDP, both of which
    fail on CPU, and it reverts SyncBN only in non-distributed runs. Here the
    gloo process group is created before the Runner (which then skips its own
    ``init_dist``), DDP gets ``device_ids=None`` and SyncBN becomes BN (so
    BN running statistics are per rank there; parameters stay identical).
    On CUDA machines nothing changes (NCCL, SyncBN).

    Returns:
        bool: whether the CPU path was taken.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    import torch.distributed as dist

    if launcher == 'slurm':
        raise RuntimeError('--launcher slurm needs CUDA GPUs; use '
                           '--launcher pytorch for CPU processes')
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'gloo'
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg') or {}
    wrapper = dict(wrapper)
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    _replace_sync_bn(cfg.model)
    return True


def default_work_dir(cfg, config_path: str, work_dir=None) -> str:
    """CLI > config > ``./work_dirs/<config name>``, as mmseg does."""
    if work_dir is not None:
        return work_dir
    if cfg.get('work_dir', None) is not None:
        return cfg.work_dir
    return osp.join('./work_dirs',
                    osp.splitext(osp.basename(config_path))[0])


def set_local_rank_env(local_rank: int) -> None:
    # torch.distributed.launch passes --local-rank; torchrun sets the env.
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(local_rank)


def enable_amp(optim_wrapper) -> bool:
    """``--amp``: turn ``OptimWrapper`` configs into ``AmpOptimWrapper``
    with dynamic loss scaling, for a single wrapper or for each child of a
    per-network config (``constructor='MultiOptimWrapperConstructor'``).

    Returns:
        bool: False if AMP was already on everywhere.

    Raises:
        ValueError: naming the key of a wrapper type AMP cannot replace.
    """
    if 'optimizer' in optim_wrapper or 'type' in optim_wrapper:
        wrappers = {'optim_wrapper': optim_wrapper}
    else:
        wrappers = {
            f'optim_wrapper.{name}': child
            for name, child in optim_wrapper.items()
            if isinstance(child, dict) and 'optimizer' in child
        }
    changed = False
    for key, wrapper in wrappers.items():
        wrapper_type = wrapper.get('type', 'OptimWrapper')
        if wrapper_type == 'AmpOptimWrapper':
            continue
        if wrapper_type != 'OptimWrapper':
            raise ValueError(f'--amp needs {key}.type OptimWrapper, got '
                             f'{wrapper_type!r}')
        wrapper['type'] = 'AmpOptimWrapper'
        wrapper['loss_scale'] = 'dynamic'
        changed = True
    return changed
