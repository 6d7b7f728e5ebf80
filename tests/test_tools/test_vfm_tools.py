"""A DINOv2 config of configs/vfm/ through the real tools, shrunk by
``--cfg-options`` only: ``tools/train.py`` trains 2 iterations (DACS with
the DAFormer head on the ViT pyramid) and ``tools/test.py`` evaluates the
checkpoint on the synthetic data."""
import os.path as osp
import re

from mmseg_uda.datasets.synthetic import synthetic_root_options
from tests.helpers import run_tool

CONFIG = 'configs/vfm/daformer_dinov2-b_1xb2-40k_gta2cityscapes-512x512.py'
CROP = 66  # not a multiple of the patch size 14

# CPU size: mmpretrain's DeiT-tiny arch (width 192, 12 blocks, so the
# config's out_indices 2/5/8/11 stay valid) without pretrained weights,
# narrow DAFormer head, BN for SyncBN, small images and crops.
SHRINK = [
    'model.segmentor.backbone.vit.arch=deit-tiny',
    'model.segmentor.backbone.vit.init_cfg=None',
    'model.segmentor.backbone.vit.img_size=56',
    'model.segmentor.decode_head.in_channels=[192,192,192,192]',
    'model.segmentor.decode_head.channels=16',
    'model.segmentor.decode_head.norm_cfg.type=BN',
    'model.segmentor.decode_head.decoder_params.embed_dims=16',
    'model.segmentor.decode_head.decoder_params.fusion_cfg.norm_cfg.type=BN',
    f'model.segmentor.data_preprocessor.size=({CROP},{CROP})',
    f'data_preprocessor.size=({CROP},{CROP})',
    'model.pseudo_weight_ignore_top=2',
    'model.pseudo_weight_ignore_bottom=10',
    'train_dataloader.dataset.source.pipeline.2.scale=(160,90)',
    f'train_dataloader.dataset.source.pipeline.3.crop_size=({CROP},{CROP})',
    'train_dataloader.dataset.target.pipeline.1.scale=(128,64)',
    f'train_dataloader.dataset.target.pipeline.2.crop_size=({CROP},{CROP})',
    'train_dataloader.dataset.rare_class_sampling.min_pixels=10',
    'val_dataloader.dataset.pipeline.1.scale=(128,64)',
    'test_dataloader.dataset.pipeline.1.scale=(128,64)',
    'train_cfg.max_iters=2',
    'train_cfg.val_interval=2',
    'default_hooks.checkpoint.interval=2',
    'default_hooks.logger.interval=1',
]


def loader_options():
    opts = []
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{key}.num_workers=0', f'{key}.persistent_workers=False']
    return opts


def test_train_and_test_a_dinov2_config(synthetic_data, tmp_path):
    """Rules out: a VFM config that only builds but cannot train through
    the Runner (pretrained hook-up, optimizer groups of the ViT, crop sizes
    that are not multiples of 14), and a checkpoint mmseg's test tool
    cannot evaluate."""
    data = synthetic_root_options(synthetic_data, uda=True)
    work_dir = str(tmp_path / 'work')
    proc = run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir,
                     '--cfg-options', *SHRINK, *data, *loader_options()])
    assert proc.returncode == 0, proc.stdout[-4000:]
    ckpt = osp.join(work_dir, 'iter_2.pth')
    assert osp.exists(ckpt), proc.stdout[-2000:]
    for tag in ('src.decode.loss_ce', 'mix.decode.loss_ce'):
        assert f'{tag}: ' in proc.stdout, tag
    assert 'loss_imnet_feat_dist' not in proc.stdout  # FD off for VFMs

    proc = run_tool(['tools/test.py', CONFIG, ckpt, '--work-dir',
                     str(tmp_path / 'test'), '--cfg-options', *SHRINK,
                     *data, *loader_options()])
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert re.search(r'mIoU: \d+\.\d+', proc.stdout), proc.stdout[-2000:]
