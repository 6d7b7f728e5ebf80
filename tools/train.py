"""Train a segmentor or a UDA model: mmseg's ``tools/train.py`` with the
plugin registered and CPU ``--launcher pytorch`` support."""
import argparse
import logging

from mmengine.logging import print_log
from mmengine.runner import Runner

import mmseg_uda  # noqa: F401  (registers the plugin)

from launch_utils import (
    apply_randomness,
    enable_amp,
    load_config,
    parse_launch_args,
    relax_deterministic_algorithms,
    setup_cpu_distributed,
)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a (UDA) segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        action='store_true',
        default=False,
        help='resume from the latest checkpoint in the work_dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--seed', type=int, default=None,
        help='random seed (default: randomness.seed of the config, 0 in '
        'the plugin runtime base)')
    parser.add_argument(
        '--deterministic',
        action='store_true',
        help='deterministic algorithms (cuDNN, torch); ops without a '
        'deterministic CUDA kernel warn')
    parser.add_argument(
        '--diff-rank-seed',
        action='store_true',
        help='a different global seed per rank (the data stream stays '
        'the seeded one)')
    return parse_launch_args(parser)


def main():
    args = parse_args()
    cfg = load_config(args)

    if args.amp and not enable_amp(cfg.optim_wrapper):
        print_log('AMP training is already enabled in your config.',
                  logger='current', level=logging.WARNING)
    cfg.resume = args.resume
    randomness = apply_randomness(cfg, args.seed, args.deterministic,
                                  args.diff_rank_seed)
    setup_cpu_distributed(cfg, args.launcher)

    if 'runner_type' in cfg:
        from mmseg.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    if randomness.get('deterministic'):
        relax_deterministic_algorithms()
    # The config and the data are checked by PreflightCheckHook
    # (default_hooks.preflight) before the first iteration.
    runner.train()


if __name__ == '__main__':
    main()
