"""Helpers shared by the end-to-end tests: configs of the repository pointed
at the generated synthetic data, shortened for CPU."""
import os
import os.path as osp
import subprocess
import sys

from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
QUICKSTART_DACS = osp.join(
    REPO, 'configs/quickstart/daformer_mit-tiny_1xb2-1k_synthetic-128x128.py')
QUICKSTART_SOURCE_ONLY = osp.join(
    REPO,
    'configs/quickstart/source-only_mit-tiny_1xb2-1k_synthetic-128x128.py')


def data_options(roots: dict) -> dict:
    """``--cfg-options`` that point a synthetic config at ``roots``."""
    opts = {
        'val_dataloader.dataset.data_root': roots['cityscapes'],
        'test_dataloader.dataset.data_root': roots['cityscapes'],
    }
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts[f'{key}.num_workers'] = 0
        opts[f'{key}.persistent_workers'] = False
    return opts


def short_cfg(config: str, roots: dict, work_dir: str, max_iters: int,
              interval: int, **extra) -> Config:
    """``config`` on the synthetic data, ``max_iters`` iterations, validation
    and checkpoints every ``interval``, logs every iteration."""
    cfg = Config.fromfile(config)
    dataset = cfg.train_dataloader.dataset
    if dataset.type == 'UDADataset':
        dataset.source.data_root = roots['gta']
        dataset.target.data_root = roots['cityscapes']
    else:
        dataset.data_root = roots['gta']
    opts = data_options(roots)
    opts.update({
        'train_cfg.max_iters': max_iters,
        'train_cfg.val_interval': interval,
        'default_hooks.checkpoint.interval': interval,
        'default_hooks.checkpoint.max_keep_ckpts': 3,
        'default_hooks.logger.interval': 1,
        'work_dir': work_dir,
    })
    opts.update(extra)
    cfg.merge_from_dict(opts)
    return cfg


def load_tool(rel_path: str):
    """A script of the repository (e.g. ``tools/analysis_tools/x.py``)
    imported as a module, to call its ``main(argv)`` in-process."""
    import importlib.util
    name = osp.splitext(osp.basename(rel_path))[0]
    spec = importlib.util.spec_from_file_location(
        name, osp.join(REPO, rel_path))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_tool(args, env_extra=None, timeout=900):
    """Run ``python tools/...`` (or a shell script) from the repository;
    returns the completed process (stdout+stderr in ``.stdout``)."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    env.update(env_extra or {})
    cmd = args if args[0].endswith('.sh') else [sys.executable, *args]
    return subprocess.run(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=timeout)


def own_data_layout(roots: dict, out: str) -> dict:
    """The synthetic data rearranged into the layout of a user's own data
    (docs/own_data.md): a labelled source ``sim/img/*.jpg`` +
    ``sim/ann/*.png`` (trainIds), an unlabelled flat target
    ``real/train/*.png`` and ``real/val/{img,ann}/*.png``. Returns the
    dataset roots ``dict(sim=..., real=..., real_val=...)`` (the target's
    images are ``real/train``)."""
    import glob
    import shutil

    import cv2
    sim, real = osp.join(out, 'sim'), osp.join(out, 'real')
    for d in ('sim/img', 'sim/ann', 'real/train', 'real/val/img',
              'real/val/ann'):
        os.makedirs(osp.join(out, d), exist_ok=True)
    for img in sorted(glob.glob(osp.join(roots['gta'], 'images', '*.png'))):
        stem = osp.splitext(osp.basename(img))[0]
        cv2.imwrite(osp.join(sim, 'img', f'sim_{stem}.jpg'), cv2.imread(img))
        shutil.copy(
            osp.join(roots['gta'], 'labels', f'{stem}_labelTrainIds.png'),
            osp.join(sim, 'ann', f'sim_{stem}.png'))
    cs = roots['cityscapes']
    for img in glob.glob(osp.join(cs, 'leftImg8bit', 'train', '*', '*.png')):
        shutil.copy(img, osp.join(real, 'train', osp.basename(img).replace(
            '_leftImg8bit', '')))
    for img in glob.glob(osp.join(cs, 'leftImg8bit', 'val', '*', '*.png')):
        name = osp.basename(img).replace('_leftImg8bit', '')
        shutil.copy(img, osp.join(real, 'val', 'img', name))
        lbl = img.replace('leftImg8bit', 'gtFine', 1).replace(
            '_leftImg8bit.png', '_gtFine_labelTrainIds.png')
        shutil.copy(lbl, osp.join(real, 'val', 'ann', name))
    return dict(sim=sim, real=real, real_val=osp.join(real, 'val'))
