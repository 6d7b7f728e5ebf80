"""Test (and evaluate) a segmentor or a UDA model checkpoint: mmseg's
``tools/test.py`` with the plugin registered."""
import argparse

from mmengine.runner import Runner

import mmseg_uda  # noqa: F401  (registers the plugin)

from launch_utils import (
    load_config,
    parse_launch_args,
    setup_cpu_distributed,
)


def parse_args():
    parser = argparse.ArgumentParser(
        description='MMSeg-UDA test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save metrics')
    parser.add_argument(
        '--out',
        type=str,
        help='directory to save the predicted segmentation maps')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir', help='directory to save painted predictions')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--tta', action='store_true', help='test time augmentation')
    parser.add_argument(
        '--submit',
        metavar='SPLIT',
        help='predict the unlabelled test split SPLIT (acdc, darkzurich, '
        'cityscapes: configs/_base_/datasets/test_splits/, or a config '
        'file) and write the benchmark server\'s archive to '
        '<work_dir>/submission (docs/submit.md)')
    return parse_launch_args(parser)


def trigger_visualization_hook(cfg, args):
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise RuntimeError(
            '--show/--show-dir need default_hooks.visualization='
            "dict(type='SegVisualizationHook') in the config")
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        cfg.visualizer['save_dir'] = args.show_dir
    return cfg


def main():
    args = parse_args()
    cfg = load_config(args, test_split=args.submit)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.tta:
        if 'tta_pipeline' not in cfg or 'tta_model' not in cfg:
            raise KeyError('--tta needs `tta_pipeline` and `tta_model` in '
                           f'the config {args.config}')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
        # Multi-GPU: the TTA model in one DDP, as mmseg wraps it. The UDA
        # wrapper (one DDP per child) would wrap the TTA model's `module`,
        # which then lacks the segmentor's attributes (out_channels).
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel')
    if args.out is not None:
        cfg.test_evaluator['output_dir'] = args.out
        if not args.submit:  # the submission writers keep their files
            cfg.test_evaluator['keep_results'] = True
    setup_cpu_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    # Size logged, labels checked before the first batch: PreflightCheckHook
    # (default_hooks.preflight).
    runner.test()


if __name__ == '__main__':
    main()
