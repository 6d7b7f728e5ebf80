"""DAFormer end to end on the synthetic data through the real tools: train,
validate, checkpoint, resume, test, export, mmseg's inference APIs, and
2-process (gloo) training with identical students/teachers on both ranks."""
import glob
import json
import os.path as osp
import re
import sys

import pytest
import torch

from tests.helpers import QUICKSTART_DACS, run_tool


def write_config(path, roots, max_iters, interval, extra=''):
    """A config inheriting the quick-start DAFormer, shortened for CPU."""
    text = f'''_base_ = [{QUICKSTART_DACS!r}]
train_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(source=dict(data_root={roots['gta']!r}),
                 target=dict(data_root={roots['cityscapes']!r})))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root={roots['cityscapes']!r}))
test_dataloader = val_dataloader
train_cfg = dict(max_iters={max_iters}, val_interval={interval})
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval={interval}, max_keep_ckpts=3))
{extra}'''
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def scalars(work_dir):
    """The json scalar logs of a work dir (all runs), as dicts."""
    rows = []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                          'scalars.json'))):
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


@pytest.fixture(scope='module')
def trained(synthetic_data, tmp_path_factory):
    """4 iterations with validation and checkpoints every 2, then resumed
    with ``--resume`` to 6."""
    tmp = tmp_path_factory.mktemp('daformer_e2e')
    work_dir = str(tmp / 'work')
    cfg4 = write_config(tmp / 'cfg4.py', synthetic_data, 4, 2)
    proc = run_tool(['tools/train.py', cfg4, '--work-dir', work_dir])
    assert proc.returncode == 0, proc.stdout[-3000:]
    cfg6 = write_config(tmp / 'cfg6.py', synthetic_data, 6, 2)
    proc = run_tool(['tools/train.py', cfg6, '--work-dir', work_dir,
                     '--resume'])
    assert proc.returncode == 0, proc.stdout[-3000:]
    return dict(work_dir=work_dir, cfg=cfg6, resume_log=proc.stdout,
                tmp=tmp, data=synthetic_data)


def test_train_validate_checkpoint_resume(trained):
    work_dir = trained['work_dir']
    for it in (2, 4, 6):
        assert osp.exists(osp.join(work_dir, f'iter_{it}.pth'))
    log = trained['resume_log']
    assert re.search(r'resumed? .*iter_4\.pth|Load checkpoint from .*iter_4',
                     log, re.I), log[-2000:]
    rows = scalars(work_dir)
    train_iters = [r['iter'] for r in rows if 'mix.decode.loss_ce' in r]
    assert train_iters == [1, 2, 3, 4, 5, 6]  # resumed, not restarted
    assert all(0 <= r['pseudo_weight'] <= 1 for r in rows
               if 'pseudo_weight' in r)
    vals = [r for r in rows if 'mIoU' in r]
    assert len(vals) == 3 and all(0 <= r['mIoU'] <= 100 for r in vals)
    ckpt = torch.load(osp.join(work_dir, 'iter_6.pth'), map_location='cpu')
    keys = ckpt['state_dict'].keys()
    for prefix in ('student.', 'teacher.', 'imnet_backbone.'):
        assert any(k.startswith(prefix) for k in keys), prefix
    assert ckpt['meta']['iter'] == 6


def test_tools_test_and_export_and_inference_apis(trained):
    work_dir, cfg = trained['work_dir'], trained['cfg']
    ckpt = osp.join(work_dir, 'iter_6.pth')
    proc = run_tool(['tools/test.py', cfg, ckpt, '--work-dir',
                     osp.join(work_dir, 'test')])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert re.search(r'mIoU: \d+\.\d+', proc.stdout)
    proc = run_tool(['tools/test.py', cfg, ckpt, '--tta', '--work-dir',
                     osp.join(work_dir, 'test_tta')])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert re.search(r'mIoU: \d+\.\d+', proc.stdout)

    out = osp.join(trained['tmp'], 'student.pth')
    out_cfg = osp.join(trained['tmp'], 'student_cfg.py')
    proc = run_tool(['tools/model_converters/uda2segmentor.py', cfg, ckpt,
                     out, '--out-config', out_cfg])
    assert proc.returncode == 0, proc.stdout[-3000:]

    from mmseg.apis import MMSegInferencer, inference_model, init_model
    # the session's synthetic data (other tests' folders may hold
    # deliberately damaged images)
    img = sorted(glob.glob(osp.join(
        trained['data']['cityscapes'], '**', '*_leftImg8bit.png'),
        recursive=True))
    img = img[0] if img else None
    if img is None:
        import mmcv
        import numpy as np
        img = osp.join(trained['tmp'], 'img.png')
        mmcv.imwrite(np.full((64, 128, 3), 90, np.uint8), img)
    plain = init_model(out_cfg, out, device='cpu')
    uda = init_model(cfg, ckpt, device='cpu')
    res_plain = inference_model(plain, img)
    res_uda = inference_model(uda, img)
    assert torch.allclose(res_plain.seg_logits.data,
                          res_uda.seg_logits.data, atol=1e-5)
    assert type(uda).__name__ == 'DACS'
    assert plain.dataset_meta['classes'][0] == 'road'
    inferencer = MMSegInferencer(model=out_cfg, weights=out, device='cpu')
    pred = inferencer(img, return_datasamples=True)
    assert torch.equal(pred.pred_sem_seg.data, res_plain.pred_sem_seg.data)


def test_two_process_gloo_training_keeps_ranks_identical(
        synthetic_data, tmp_path):
    work_dir = str(tmp_path / 'dist')
    extra = '''custom_imports = dict(
    imports=['mmseg_uda', 'tests.test_tools.rank_dump_hook'],
    allow_failed_imports=False)
custom_hooks = [
    dict(type='EMATeacherHook', alpha=0.999),
    dict(type='RankStateDumpHook'),
]
'''
    cfg = write_config(tmp_path / 'cfg.py', synthetic_data, 3, 3, extra)
    proc = run_tool(['tools/dist_train.sh', cfg, '2', '--work-dir',
                     work_dir], env_extra=dict(PORT='29611',
                                               PYTHON=sys.executable))
    assert proc.returncode == 0, proc.stdout[-4000:]
    r0 = torch.load(osp.join(work_dir, 'rank0_state.pth'))
    r1 = torch.load(osp.join(work_dir, 'rank1_state.pth'))
    ckpt = torch.load(osp.join(work_dir, 'iter_3.pth'),
                      map_location='cpu')['state_dict']
    # Parameters and buffers: the BN running statistics (per rank on CPU,
    # where SyncBN falls back to BN) are averaged by the DDP wrapper.
    student = [k for k in r0 if k.startswith('student.')]
    teacher = [k for k in r0 if k.startswith('teacher.')]
    assert any(k.endswith('running_var') for k in student + teacher)
    for k in student + teacher:
        assert torch.equal(r0[k], r1[k]), k
        assert torch.equal(r0[k], ckpt[k]), k
    # the teacher is an EMA of the student, not a copy, after 3 iterations
    assert any(not torch.equal(r0[k], r0['teacher.' + k[len('student.'):]])
               for k in student if 'weight' in k)
    assert 'gloo' in proc.stdout or 'world_size: 2' in proc.stdout
