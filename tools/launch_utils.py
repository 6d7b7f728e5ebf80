"""Shared set-up of ``tools/train.py`` and ``tools/test.py``: the config
edits every launch needs, so users never edit configs per machine."""
import argparse
import os
import os.path as osp
from typing import Optional

import torch
from mmengine.config import DictAction


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
    each rank normalises with its own batch statistics there;
    ``UDADistributedDataParallel`` averages the running statistics).
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


def parse_launch_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Adds the arguments every launch of a tool takes (``--cfg-options``,
    ``--launcher``, ``--local-rank``) to ``parser``, parses the command line
    and exports the local rank."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    set_local_rank_env(args.local_rank)
    return args


def amp_dtype() -> str:
    """The autocast dtype of ``--amp`` on this machine: ``'bfloat16'`` on
    GPUs with bf16 tensor cores (compute capability >= 8: Ampere, Hopper,
    ...; fp32's exponent range, so no gradient underflow), ``'float16'``
    otherwise (mmengine's default, with the dynamic loss scale)."""
    if (torch.cuda.is_available()
            and torch.cuda.get_device_capability()[0] >= 8):
        return 'bfloat16'
    return 'float16'


def enable_amp(optim_wrapper, dtype: Optional[str] = None) -> bool:
    """``--amp``: turn ``OptimWrapper`` configs into ``AmpOptimWrapper``
    with dynamic loss scaling, for a single wrapper or for each child of a
    per-network config (``constructor='MultiOptimWrapperConstructor'``).
    The autocast dtype is ``dtype`` or :func:`amp_dtype` (bf16 where the
    GPU has it), unless the wrapper config names one.

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
        wrapper.setdefault('dtype', dtype or amp_dtype())
        changed = True
    return changed


def apply_randomness(cfg, seed=None, deterministic: bool = False,
                     diff_rank_seed: bool = False) -> dict:
    """``tools/train.py --seed/--deterministic/--diff-rank-seed``: edit
    ``cfg.randomness`` (mmengine's ``Runner.set_randomness`` arguments) and
    keep UDA runs reproducible under them.

    - ``diff_rank_seed``: mmengine then builds the training sampler with
      ``seed=None`` (a random seed broadcast by rank 0), so two runs would
      read different data. The sampler's seed is fixed to the run's seed
      here instead (UDASampler shards one stream by rank, whatever the
      global RNG seeds of the ranks).
    - ``deterministic``: also sets ``CUBLAS_WORKSPACE_CONFIG`` (needed by
      ``torch.use_deterministic_algorithms`` for cuBLAS on CUDA >= 10.2,
      read when the first cuBLAS handle is created, so before the model
      moves to the GPU). See :func:`relax_deterministic_algorithms`.

    Returns:
        dict: the resulting ``cfg.randomness``.
    """
    randomness = dict(cfg.get('randomness') or {})
    # mmengine's default for configs without one (e.g. mmseg's runtime
    # base): Runner.set_randomness requires the argument.
    randomness.setdefault('seed', None)
    if seed is not None:
        randomness['seed'] = int(seed)
    if deterministic:
        randomness['deterministic'] = True
        os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
    if diff_rank_seed:
        randomness['diff_rank_seed'] = True
    if randomness.get('diff_rank_seed') and randomness.get(
            'seed') is not None:
        sampler = cfg.get('train_dataloader', {}).get('sampler')
        if isinstance(sampler, dict) and sampler.get('seed') is None:
            sampler['seed'] = int(randomness['seed'])
    cfg.randomness = randomness
    return randomness


def relax_deterministic_algorithms() -> None:
    """Keep ``torch.use_deterministic_algorithms`` on, but warn instead of
    failing on an op that has no deterministic CUDA kernel.

    Gap: mmengine's ``set_random_seed(deterministic=True)`` turns it on in
    the strict mode, where any op without a deterministic CUDA kernel
    raises and ends the run. Called by ``tools/train.py --deterministic``
    after the Runner has applied its randomness settings. On CPU every op
    used by the UDA methods is deterministic anyway.
    """
    torch.use_deterministic_algorithms(True, warn_only=True)


#: The test-split configs of ``tools/test.py --submit NAME``.
TEST_SPLITS_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                           'configs', '_base_', 'datasets', 'test_splits')
#: Transforms that load labels: the test splits have none.
LABEL_LOADERS = ('LoadAnnotations', 'LoadCheckedAnnotations')


def without_label_loading(pipeline):
    """``pipeline`` without its label loaders, also inside
    ``TestTimeAug``'s lists of alternatives (an emptied list is dropped:
    ``TestTimeAug`` would otherwise produce no combination)."""
    out = []
    for t in pipeline:
        if isinstance(t, (list, tuple)):
            kept = without_label_loading(t)
            if kept:
                out.append(kept)
            continue
        if t.get('type') in LABEL_LOADERS:
            continue
        if t.get('type') == 'TestTimeAug':
            t = dict(t, transforms=without_label_loading(t['transforms']))
        out.append(t)
    return out


def apply_test_split(cfg, split: str) -> str:
    """``tools/test.py --submit``: test on an unlabelled test split and write
    the server's submission archive.

    ``split`` names a config of ``configs/_base_/datasets/test_splits``
    (``acdc``, ``darkzurich``, ``cityscapes``) or is a path to such a
    config. Its ``test_dataloader.dataset``, ``test_evaluator`` and
    ``tta_model`` replace the config's; the config's own test pipeline (its
    sizes, HRDA's scales) and TTA pipeline are kept, without the label
    loading. Applied before ``--cfg-options``, which can then change the
    split's settings.

    Returns:
        str: the test-split config file used.
    """
    from mmengine.config import Config
    path = split if split.endswith('.py') else osp.join(
        TEST_SPLITS_DIR, f'{split}.py')
    if not osp.isfile(path):
        names = sorted(
            osp.splitext(f)[0] for f in os.listdir(TEST_SPLITS_DIR)
            if f.endswith('.py'))
        raise FileNotFoundError(f'--submit {split!r}: no test-split config '
                                f'{path}; choose one of {names} or give a '
                                'config file')
    split_cfg = Config.fromfile(path)
    dataset = split_cfg.test_dataloader.dataset
    dataset.pipeline = without_label_loading(
        cfg.test_dataloader.dataset.pipeline)
    cfg.test_dataloader.dataset = dataset
    cfg.test_evaluator = split_cfg.test_evaluator
    if 'tta_pipeline' in cfg:
        cfg.tta_pipeline = without_label_loading(cfg.tta_pipeline)
    if 'tta_model' in split_cfg:
        cfg.tta_model = split_cfg.tta_model
    return path


def load_config(args, test_split: Optional[str] = None):
    """The config of ``args.config`` as the command line makes it: the
    test split of ``--submit`` (:func:`apply_test_split`), the launcher,
    ``--cfg-options`` merged, the work dir resolved (CLI > config >
    ``./work_dirs/<config name>``) and a submission's ``output_dir``
    defaulted to ``<work_dir>/submission``. A default hook set to None stays
    in the config (mmseg_uda lets mmengine switch it off,
    ``utils/compat.py``)."""
    from mmengine.config import Config
    cfg = Config.fromfile(args.config)
    if test_split is not None:
        apply_test_split(cfg, test_split)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = default_work_dir(cfg, args.config, args.work_dir)
    if test_split is not None and not cfg.test_evaluator.get('output_dir'):
        cfg.test_evaluator.output_dir = osp.join(cfg.work_dir, 'submission')
    return cfg
