"""mmseg's own ``tools/train.py`` (what ``mim train mmsegmentation`` runs)
switches the plugin's default hooks off with ``--cfg-options
default_hooks.<key>=None``, with no help from the plugin's launcher."""
import os.path as osp

from tests.helpers import QUICKSTART_DACS, mmseg_tool, run_tool, short_cfg

#: default hooks of the configs that mmengine 0.10 does not know
OFF = dict(preemption='PreemptionHook', nonfinite='NonFiniteGuardHook',
           bad_samples='BadSampleHook', visualization='SegVisualizationHook',
           preflight='PreflightCheckHook')


def test_mmseg_train_py_switches_plugin_hooks_off(synthetic_data, tmp_path):
    """Rules out a switch that only the plugin's ``tools/train.py`` applies
    (mmseg's script would fail mmengine's assert on the first unknown key)
    and one that deletes the keys from the dumped config."""
    work_dir = tmp_path / 'work'
    cfg = short_cfg(QUICKSTART_DACS, synthetic_data, str(work_dir), 1, 10)
    config = str(tmp_path / 'dacs_tiny.py')
    cfg.dump(config)
    off = [f'default_hooks.{key}=None' for key in OFF]
    proc = run_tool([mmseg_tool('train.py'), config, '--cfg-options', *off])
    assert proc.returncode == 0, proc.stdout[-3000:]
    hooks = proc.stdout.split('Hooks will be executed')[1].split(
        'Iter(train)')[0]
    for hook_type in OFF.values():
        assert hook_type not in hooks, hook_type
    assert 'EMATeacherHook' in hooks and 'SafeCheckpointHook' in hooks
    assert 'Iter(train) [1/1]' in proc.stdout
    with open(osp.join(work_dir, 'dacs_tiny.py')) as f:
        dumped = f.read()
    for key in OFF:
        assert f'{key}=None' in dumped, key
