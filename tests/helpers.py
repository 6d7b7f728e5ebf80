"""Helpers shared by the tests: configs of the repository pointed at the
generated synthetic data, shortened for CPU; segmentation data samples."""
import inspect
import os
import os.path as osp
import subprocess
import sys

from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from tests.processes import run_process_tree

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
QUICKSTART_DACS = osp.join(
    REPO, 'configs/quickstart/daformer_mit-tiny_1xb2-1k_synthetic-128x128.py')
QUICKSTART_SOURCE_ONLY = osp.join(
    REPO,
    'configs/quickstart/source-only_mit-tiny_1xb2-1k_synthetic-128x128.py')


def mmseg_tool(name: str) -> str:
    """Path of mmseg's own ``tools/<name>`` (shipped in its package as
    ``mmseg/.mim/tools``: what ``mim train mmsegmentation`` runs)."""
    import mmseg
    return osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', name)


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
    from mmseg_uda.datasets.synthetic import use_synthetic_roots
    cfg = Config.fromfile(config)
    use_synthetic_roots(cfg, roots)
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


def on_synthetic_data(cfg, roots: dict, num_workers: int = 0):
    """Point ``cfg``'s datasets at the synthetic ``roots`` (in place) with
    ``num_workers`` loader workers (0: in the test process); returns it."""
    from mmseg_uda.datasets.synthetic import use_synthetic_roots
    use_synthetic_roots(cfg, roots)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].num_workers = num_workers
        cfg[key].persistent_workers = num_workers > 0
    return cfg


def load_tool(rel_path: str, name: str = None):
    """A script of the repository (e.g. ``tools/analysis_tools/x.py``)
    imported as a module (``tools/`` is not a package), to call its
    functions in-process. It is registered in ``sys.modules`` under
    ``name`` (default: its file name), so worker processes that unpickle
    its functions find it, and its folder is appended to ``sys.path``
    (after the standard library: there is a ``tools/test.py``) for its
    sibling imports, as when it runs as a script."""
    import importlib.util
    name = name or osp.splitext(osp.basename(rel_path))[0]
    path = osp.join(REPO, rel_path)
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, '__file__', None) == path:
        return loaded
    if osp.dirname(path) not in sys.path:
        sys.path.append(osp.dirname(path))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run_tool(args, env_extra=None, timeout=900):
    """Run ``python tools/...`` (or a shell script) from the repository;
    returns the completed process (stdout+stderr in ``.stdout``)."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    env.update(env_extra or {})
    cmd = args if args[0].endswith('.sh') else [sys.executable, *args]
    return run_process_tree(
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


def seg_samples(labels, weights=None, valid_pseudo_mask=None) -> list:
    """One ``SegDataSample`` per label map of ``labels`` (N, H, W): its
    ``gt_sem_seg`` and, if given, ``seg_weight`` from ``weights`` (N, H, W)
    and ``valid_pseudo_mask`` (N, H, W)."""
    out = []
    for i, lab in enumerate(labels):
        shape = tuple(lab.shape)
        s = SegDataSample(metainfo=dict(img_shape=shape, ori_shape=shape))
        s.gt_sem_seg = PixelData(data=lab[None].long())
        if weights is not None:
            s.seg_weight = PixelData(data=weights[i][None].float())
        if valid_pseudo_mask is not None:
            s.valid_pseudo_mask = PixelData(data=valid_pseudo_mask[i][None])
        out.append(s)
    return out


def record_calls(monkeypatch, owner, name: str) -> list:
    """Patches the method ``name`` of ``owner`` (a class or an instance) with
    a wrapper that calls it through; returns the list that receives the
    arguments of each call (a dict by parameter name)."""
    original = getattr(owner, name)
    signature = inspect.signature(original)
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(signature.bind(*args, **kwargs).arguments)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


#: ACDC sequences of the generated test split: one per condition.
ACDC_TEST_SEQUENCES = dict(fog='GOPR0475', night='GOPR0351', rain='GP010400',
                           snow='GOPR0122')


def make_test_split(root: str, target: str) -> list:
    """A tiny unlabelled test split in the layout and with the file names of
    a benchmark's (images of uneven sizes, none square); returns the image
    paths, sorted.

    - ``acdc``: ``rgb_anon/<condition>/test/<seq>/<seq>_frame_<6 digits>_
      rgb_anon.png``, 2 per condition, and a ``train`` image per condition
      that a test split must not read;
    - ``darkzurich``: ``rgb_anon/test/night/<seq>/<seq>_frame_<6 digits>_
      rgb_anon.png``, 3 images;
    - ``cityscapes``: ``leftImg8bit/test/<city>/<city>_<seq>_<frame>_
      leftImg8bit.png``, 3 images.
    """
    import cv2
    import numpy as np
    rng = np.random.default_rng(0)
    sizes = [(40, 24), (36, 20), (44, 28), (30, 18)]  # (w, h)
    paths, extra = [], []
    if target == 'acdc':
        for c, (condition, seq) in enumerate(ACDC_TEST_SEQUENCES.items()):
            for i in range(2):
                paths.append(osp.join(
                    root, 'rgb_anon', condition, 'test', seq,
                    f'{seq}_frame_{c * 100 + i:06d}_rgb_anon.png'))
            extra.append(osp.join(root, 'rgb_anon', condition, 'train', seq,
                                  f'{seq}_frame_{c * 100 + 50:06d}'
                                  '_rgb_anon.png'))
    elif target == 'darkzurich':
        seq = 'GOPR0356'
        paths = [osp.join(root, 'rgb_anon', 'test', 'night', seq,
                          f'{seq}_frame_{n:06d}_rgb_anon.png')
                 for n in (3, 100, 421)]
    elif target == 'cityscapes':
        paths = [osp.join(root, 'leftImg8bit', 'test', city,
                          f'{city}_{seq:06d}_000019_leftImg8bit.png')
                 for city, seq in (('berlin', 0), ('berlin', 1),
                                   ('bonn', 35))]
    else:
        raise ValueError(target)
    for i, path in enumerate(paths + extra):
        w, h = sizes[i % len(sizes)]
        os.makedirs(osp.dirname(path), exist_ok=True)
        cv2.imwrite(path, rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    return sorted(paths)
