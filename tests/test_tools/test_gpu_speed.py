"""benchmarks/gpu_speed.py: its log parsing, and its --cpu-smoke mode (the
whole path: generate + convert data, tools/train.py on four configs,
tools/test.py on the HRDA checkpoint, one table), as CI runs it."""
import json
import os
import subprocess
import sys

from tests.helpers import REPO, load_tool

LOG = """\
11/30 - mmengine - INFO - Iter(train) [ 1/3]  base_lr: 6.0e-05 lr: 6.0e-11  \
eta: 0:00:24  time: 5.0000  data_time: 0.5000  memory: 9000  loss: 3.1
11/30 - mmengine - INFO - Iter(train) [ 2/3]  base_lr: 6.0e-05 lr: 6.0e-11  \
eta: 0:00:01  time: 0.3000  data_time: 0.0300  memory: 8000  loss: 3.0
11/30 - mmengine - INFO - Iter(train) [ 3/3]  base_lr: 6.0e-05 lr: 6.0e-11  \
eta: 0:00:00  time: 0.2000  data_time: 0.0100  memory: 8100  loss: 2.9
11/30 - mmengine - INFO - Iter(test) [1/2]    eta: 0:00:01  time: 1.5000  \
data_time: 0.0100
"""


def test_parse_and_steady_state():
    # Rules out: the warm-up iteration counted in the median, test lines
    # mixed into the training numbers, or the memory of the last line
    # reported instead of the peak.
    bench = load_tool('benchmarks/gpu_speed.py')
    rows = bench.parse_log(LOG, 'train')
    assert [r[0] for r in rows] == [1, 2, 3]
    s = bench.summarise(rows, warmup=1)
    assert s['steady_iters'] == 2
    assert abs(s['time'] - 0.25) < 1e-9
    assert abs(s['data_time'] - 0.02) < 1e-9
    assert s['memory_mb'] == 9000
    test = bench.summarise(bench.parse_log(LOG, 'test'), warmup=1)
    assert test['time'] == 1.5 and test['memory_mb'] is None


def test_cpu_smoke(tmp_path):
    # Rules out: a benchmark path that breaks (data, converter, a config,
    # the checkpoint hand-over to tools/test.py) or reports runs without
    # any parsed iteration.
    proc = subprocess.run(
        [sys.executable, 'benchmarks/gpu_speed.py', '--cpu-smoke',
         '--work-dir', str(tmp_path), '--nproc', '1', '--time-limit', '600'],
        cwd=REPO, capture_output=True, text=True, timeout=900,
        env=dict(os.environ, OMP_NUM_THREADS='1',
                 PYTHONPATH=REPO))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads((tmp_path / 'gpu_speed.json').read_text())
    names = [r['name'] for r in out['results']]
    assert names == ['DAFormer', 'HRDA', 'MIC(DAFormer)',
                     'source-only DAFormer', 'HRDA test (slide)']
    for r in out['results']:
        assert r['returncode'] == 0 and r['iters'] >= 1, r
        assert r['time'] > 0
    assert '| HRDA test (slide)' in proc.stdout


def test_dinov2_runs_switch_off_the_vit_weights():
    # Rules out: a DINOv2 run that reads pretrained/dinov2_*.pth on the
    # GPU machine (absent there: the run fails) because the generic
    # `backbone.init_cfg=None` misses the ViT's own init_cfg.
    from mmengine.config import Config
    bench = load_tool('benchmarks/gpu_speed.py')
    vfm = [(name, config) for name, config, _, _ in bench.GPU_RUNS
           if '/vfm/' in config]
    assert {n for n, _ in vfm} >= {'DAFormer DINOv2-B', 'DAFormer DINOv2-L',
                                   'HRDA DINOv2-B'}
    for name, config in vfm:
        cfg = Config.fromfile(os.path.join(REPO, config))
        assert cfg.model.segmentor.backbone.vit.init_cfg.type == 'Pretrained'
        cfg.merge_from_dict(dict(
            opt.split('=', 1) for opt in bench.RUN_OPTIONS[name]))
        assert cfg.model.segmentor.backbone.vit.init_cfg in (None, 'None')
