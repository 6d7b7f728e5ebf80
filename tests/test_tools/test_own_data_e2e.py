"""docs/own_data.md end to end: the generated data rearranged into the
documented folder layout (one source label with a value outside the
classes), the folder converter on the three folders, the documented configs
(tiny model, 128 px), 2 iterations of tools/train.py with validation, then
tools/test.py."""
import json
import os.path as osp
import re

import numpy as np
from PIL import Image

from tests.helpers import REPO, load_tool, own_data_layout, run_tool

DOC = osp.join(REPO, 'docs', 'own_data.md')


def doc_files():
    """``{file name: text}`` of the code blocks of docs/own_data.md that
    start with ``# file: <path>``."""
    with open(DOC) as f:
        text = f.read()
    blocks = re.findall(r'```python\n# file: (\S+)\n(.*?)```', text, re.S)
    return {osp.basename(path): body for path, body in blocks}


def doc_commands(root):
    """The converter command lines of docs/own_data.md, on ``root``."""
    with open(DOC) as f:
        text = f.read()
    block = re.search(r'```shell\n(# labelled source.*?)```', text,
                      re.S).group(1)
    block = block.replace('\\\n', ' ')
    block = block.replace('--nproc 8', '--nproc 2')
    return [line.replace('python ', '', 1).replace('data/', root + '/')
            .split() for line in block.splitlines()
            if line.startswith('python ')]


def test_own_data_end_to_end(synthetic_data, tmp_path):
    data = str(tmp_path / 'data')
    roots = own_data_layout(synthetic_data, data)
    bad_label = osp.join(roots['sim'], 'ann', 'sim_00002.png')
    ids = np.array(Image.open(bad_label))
    ids[3, 4] = 40
    Image.fromarray(ids).save(bad_label)

    # 2. the converter, as documented
    commands = doc_commands(data)
    assert len(commands) == 3
    converter = load_tool('tools/dataset_converters/folder.py')
    for args in commands:
        # in-process (the same main() as the command line, without the
        # interpreter start-up)
        assert args[0] == 'tools/dataset_converters/folder.py'
        assert converter.main(args[1:]) == 0
    with open(osp.join(roots['sim'], 'bad_samples_img.json')) as f:
        bad = json.load(f)
    assert [b['image'] for b in bad] == ['img/sim_00002.jpg']
    assert '[40]' in bad[0]['reason']
    for root, report in ((roots['real'], 'bad_samples_train.json'),
                         (roots['real_val'], 'bad_samples_img.json')):
        with open(osp.join(root, report)) as f:
            assert json.load(f) == []
    assert osp.isfile(osp.join(roots['sim'], 'sample_class_stats.json'))

    # 3./4. the documented configs, shrunk: tiny model, 128 px crops
    files = doc_files()
    cfg_dir = tmp_path / 'configs' / 'my_project'
    cfg_dir.mkdir(parents=True)
    base = osp.join(REPO, 'configs', '_base_')
    dataset = files['uda_sim2real_512x512.py'].replace(
        '../_base_/datasets/uda_gta_to_cityscapes_512x512.py',
        osp.join(base, 'datasets', 'synthetic_uda.py')).replace(
            "data_root = 'data/'", f'data_root = {data + "/"!r}')
    (cfg_dir / 'uda_sim2real_512x512.py').write_text(dataset)
    experiment = files['daformer_mitb5_1xb2-40k_sim2real-512x512.py']
    experiment = experiment.replace("'../_base_/", repr(base + '/')[:-1])
    experiment = experiment.replace('daformer_sepaspp_mitb5.py',
                                    'daformer_sepaspp_mit-tiny.py')
    experiment = experiment.replace('adamw_warmup_poly_40k.py',
                                    'adamw_warmup_poly_1k.py')
    experiment += '''
train_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(rare_class_sampling=dict(min_pixels=50)))
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
'''
    cfg = str(cfg_dir / 'daformer_mitb5_1xb2-40k_sim2real-512x512.py')
    with open(cfg, 'w') as f:
        f.write(experiment)

    # 5. train, test
    work_dir = str(tmp_path / 'work')
    proc = run_tool(['tools/train.py', cfg, '--work-dir', work_dir])
    log = proc.stdout
    assert proc.returncode == 0, log[-4000:]
    assert re.search(r'source dataset .*FolderSegDataset.*: 11 samples, 1 '
                     r'bad samples left out', log), log[-4000:]
    assert re.search(r'target dataset .*: 6 samples', log)
    assert re.search(r'val dataset .*: 4 samples', log)
    assert 'requires_grad=False' not in log
    assert re.search(r'mIoU: \d+\.\d+', log)
    ckpt = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(ckpt)
    proc = run_tool(['tools/test.py', cfg, ckpt, '--work-dir',
                     osp.join(work_dir, 'test')])
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert re.search(r'test dataset .*: 4 samples', proc.stdout)
    assert re.search(r'mIoU: \d+\.\d+', proc.stdout)
