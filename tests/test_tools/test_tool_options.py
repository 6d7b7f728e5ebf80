"""Every command-line option of the converters and analysis tools arrives
where it is used: each tool's ``main`` runs with every option set to a
value other than its default, and the function it delegates to (patched to
record its arguments and stop) must receive each value. Rules out an option
parsed and then not passed on (or passed to the wrong parameter), which
nothing else would notice: the tool still runs, with the default."""
import inspect
import sys

import pytest

from tests.helpers import load_tool


class Stop(Exception):
    """Raised by a recording stand-in: the arguments are what is checked,
    the rest of the tool need not run."""


def record(monkeypatch, module, name, returns=Stop):
    """Replace ``module.name`` with a stand-in that records its arguments
    (a dict by parameter name, defaults filled in) and raises ``Stop`` (or
    returns ``returns``); returns the list of calls."""
    signature = inspect.signature(getattr(module, name))
    calls = []

    def stand_in(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        calls.append(dict(bound.arguments))
        if returns is Stop:
            raise Stop
        return returns

    stand_in.__signature__ = signature  # for a second record()
    monkeypatch.setattr(module, name, stand_in)
    return calls


def run_main(main, argv):
    with pytest.raises(Stop):
        main(argv)


@pytest.mark.parametrize('ignore_index', [0, 254])
def test_folder_converter_passes_every_option_on(monkeypatch, ignore_index):
    """tools/dataset_converters/folder.py: all 12 options reach
    ``convert_folder``, an ignore index of 0 (falsy) included."""
    folder = load_tool('tools/dataset_converters/folder.py')
    calls = record(monkeypatch, folder, 'convert_folder')
    run_main(folder.main, [
        'ROOT', '--img-dir', 'imgs', '--ann-dir', 'anns', '--img-suffix',
        '.jpeg', '--seg-map-suffix', '_l.png', '--num-classes', '7',
        '--ignore-index', str(ignore_index), '--mapping', 'synthia',
        '--out-suffix', '_x.png', '--split', 's.txt', '--flat', '--nproc',
        '3'])
    assert calls == [dict(
        root='ROOT', img_dir='imgs', ann_dir='anns', img_suffix='.jpeg',
        seg_map_suffix='_l.png', num_classes=7, ignore_index=ignore_index,
        mapping='synthia', out_suffix='_x.png', split='s.txt',
        recursive=False, nproc=3)]


def test_folder_converter_defaults_and_error(monkeypatch, capsys):
    """Without options: ignore index 255, the trainIds suffix, recursive,
    one process, no class count; a ValueError of the conversion is printed
    to stderr with exit status 1."""
    folder = load_tool('tools/dataset_converters/folder.py')
    calls = record(monkeypatch, folder, 'convert_folder')
    run_main(folder.main, ['ROOT'])
    assert calls == [dict(
        root='ROOT', img_dir='', ann_dir=None, img_suffix='.jpg',
        seg_map_suffix='.png', num_classes=None, ignore_index=255,
        mapping=None, out_suffix='_labelTrainIds.png', split=None,
        recursive=True, nproc=1)]

    def fail(*args, **kwargs):
        raise ValueError('labelled data needs --num-classes')

    monkeypatch.setattr(folder, 'convert_folder', fail)
    assert folder.main(['ROOT']) == 1
    err = capsys.readouterr().err
    assert err == 'error: labelled data needs --num-classes\n'


def test_folder_converter_config_names_the_options(monkeypatch, capsys):
    """The dataset config the folder converter prints carries the folders,
    the suffixes and the split given (what the user pastes into a
    config)."""
    folder = load_tool('tools/dataset_converters/folder.py')
    record(monkeypatch, folder, 'convert_folder', returns=dict(
        total=1, good=1, bad=0, written=0, bad_samples=[], other_files='',
        seg_map_suffix='_x.png'))
    monkeypatch.setattr(folder, 'print_summary', lambda *a: None)
    assert folder.main(['ROOT', '--img-dir', 'imgs', '--ann-dir', 'anns',
                        '--img-suffix', '.jpeg', '--split', 's.txt',
                        '--num-classes', '7']) == 0
    out = capsys.readouterr().out
    for text in ("data_root='ROOT'", "img_path='imgs'",
                 "seg_map_path='anns'", "img_suffix='.jpeg'",
                 "seg_map_suffix='_x.png'", "ann_file='s.txt'"):
        assert text in out


@pytest.mark.parametrize('nproc', ['1', '3'])
def test_converter_command_line_passes_root_and_nproc(nproc):
    """tools/dataset_converters/{gta,synthia,cityscapes}.py share
    ``converter_main``: the root and ``--nproc`` reach the conversion."""
    utils = load_tool('tools/dataset_converters/converter_utils.py')
    calls = []

    def convert(root, nproc=1):
        calls.append((root, nproc))
        raise Stop

    with pytest.raises(Stop):
        utils.converter_main('doc', 'X', convert, 'root',
                             argv=['ROOT', '--nproc', nproc])
    assert calls == [('ROOT', int(nproc))]


def test_reference_converter_passes_every_option_on(monkeypatch):
    """tools/model_converters/reference_uda2mmseg.py: the files, the
    unsafe load (for both files), target, model, ImageNet file and
    teacher-from-student reach the loading and the conversion; the
    ``--verify-config`` file and its ``--cfg-options`` reach the check;
    ``--brief`` shortens the report."""
    tool = load_tool('tools/model_converters/reference_uda2mmseg.py')
    loads = record(monkeypatch, tool, 'load_reference_file', returns={})
    reports = []

    class Report:
        def format(self, list_all):
            reports.append(list_all)
            return ''

    converts = record(monkeypatch, tool, 'convert_reference_checkpoint',
                      returns=(dict(state_dict={}), Report()))
    verifies = record(monkeypatch, tool, 'verify_with_config')
    run_main(tool.main, [
        'SRC', 'DST', '--target', 'uda', '--model', 'teacher',
        '--imnet-backbone', 'IMNET', '--teacher-from-student',
        '--unsafe-load', '--verify-config', 'CFG', '--cfg-options', 'a=1',
        '--brief'])
    assert [(c['path'] if 'path' in c else list(c.values())[0],
             list(c.values())[1]) for c in loads] == [('SRC', True),
                                                      ('IMNET', True)]
    (call, ) = converts
    assert (call['target'], call['model'], call['imnet'],
            call['teacher_from_student'], call['source']) == (
                'uda', 'teacher', 'file', True, 'SRC')
    assert reports == [False]
    assert list(verifies[0].values())[1:] == ['CFG', {'a': 1}]
    converts = record(monkeypatch, tool, 'convert_reference_checkpoint')
    run_main(tool.main, ['SRC', 'DST', '--target', 'uda', '--no-imnet'])
    assert converts[0]['imnet'] == 'none'


def test_rank_checkpoints_passes_every_option_on(monkeypatch):
    """tools/analysis_tools/rank_checkpoints.py: config, data root, source
    statistics, ``--no-labels``, the criterion and the device reach the
    evaluation of each work dir."""
    tool = load_tool('tools/analysis_tools/rank_checkpoints.py')
    calls = record(monkeypatch, tool, 'evaluate_work_dir')
    run_main(tool.main, ['WD', '--config', 'C', '--data-root', 'D',
                         '--source-stats', 'S', '--no-labels', '--select',
                         'snd', '--device', 'cuda:1'])
    assert calls == [dict(work_dir='WD', config='C', data_root='D',
                          source_stats='S', with_labels=False, select='snd',
                          device='cuda:1', checkpoints=None)]


def test_rank_checkpoints_out_prefix_arrives(monkeypatch):
    """``--out`` is the prefix of the written rows."""
    tool = load_tool('tools/analysis_tools/rank_checkpoints.py')
    record(monkeypatch, tool, 'evaluate_work_dir',
           returns=[dict(checkpoint='a.pth', snd=1.0)])
    monkeypatch.setattr(tool, 'format_rows', lambda *a: '')
    calls = record(monkeypatch, tool, 'write_rows')
    run_main(tool.main, ['WD', '--select', 'snd', '--out', 'PREFIX'])
    assert calls[0]['prefix'] == 'PREFIX'


def test_seed_report_passes_its_thresholds_on(monkeypatch):
    """tools/analysis_tools/seed_report.py: ``--collapse-ratio`` and a
    ``--min-iou`` of 0 (falsy, not the default 5) reach the report."""
    tool = load_tool('tools/analysis_tools/seed_report.py')
    record(monkeypatch, tool, 'read_run', returns={})
    calls = record(monkeypatch, tool, 'report')
    run_main(tool.main, ['W1', 'W2', '--collapse-ratio', '0.5',
                         '--min-iou', '0'])
    assert list(calls[0].values())[1:] == [0.5, 0.0]


@pytest.mark.parametrize('seed,expected', [(None, 7), ('0', 0), ('3', 3)])
def test_browse_passes_num_seed_and_cfg_options_on(monkeypatch, tmp_path,
                                                   seed, expected):
    """tools/analysis_tools/browse_uda_dataset.py: ``--num`` and ``--seed``
    (0 included: not "take the config's") reach the choice of samples,
    ``--cfg-options`` reach the config (its seed 7 when no ``--seed``), and
    ``--output-dir`` is created."""
    from mmseg.registry import DATASETS, VISUALIZERS

    tool = load_tool('tools/analysis_tools/browse_uda_dataset.py')
    cfg = tmp_path / 'cfg.py'
    cfg.write_text('train_dataloader = dict(dataset=dict())\n'
                   'visualizer = dict()\nrandomness = dict(seed=1)\n')

    class Dataset:
        metainfo = {}

    monkeypatch.setattr(DATASETS, 'build', lambda cfg: Dataset())
    monkeypatch.setattr(VISUALIZERS, 'build', lambda cfg: Dataset())
    calls = record(monkeypatch, tool, 'iterate_items')
    out = tmp_path / 'out'
    argv = [str(cfg), '--num', '3', '--output-dir', str(out),
            '--cfg-options', 'randomness.seed=7']
    run_main(tool.main, argv + (['--seed', seed] if seed else []))
    assert list(calls[0].values())[1:] == [3, expected]
    assert out.is_dir()


def test_uda2segmentor_passes_teacher_and_out_config_on(monkeypatch):
    """tools/model_converters/uda2segmentor.py: the files, ``--teacher``
    and ``--out-config`` reach the export."""
    tool = load_tool('tools/model_converters/uda2segmentor.py')
    calls = record(monkeypatch, tool, 'export_segmentor')
    monkeypatch.setattr(sys, 'argv', ['uda2segmentor.py', 'CFG', 'CKPT',
                                      'OUT', '--teacher', '--out-config',
                                      'OC'])
    with pytest.raises(Stop):
        tool.main()
    assert list(calls[0].values()) == ['CFG', 'CKPT', 'OUT', 'teacher',
                                       'OC']


def test_visualize_passes_every_option_on(monkeypatch, tmp_path):
    """tools/analysis_tools/visualize_uda.py: ``--predict-on`` and
    ``--cfg-options`` reach the model's config, ``--device`` the model,
    the images and ``--max-images`` the listing, ``--threshold`` of 0.0
    (not "the model's") the analysis, ``--out-dir`` is created."""
    import mmseg.apis

    tool = load_tool('tools/analysis_tools/visualize_uda.py')
    cfg = tmp_path / 'cfg.py'
    cfg.write_text("model = dict(type='DACS', segmentor=dict())\n")

    class Model:
        cfg = None

    inits = record(monkeypatch, mmseg.apis, 'init_model', returns=Model())
    monkeypatch.setattr(tool, 'load_checkpoint', lambda *a, **k: {})
    monkeypatch.setattr(tool, 'test_pipeline', lambda cfg: None)
    monkeypatch.setattr(tool, 'val_samples', lambda cfg: {})
    monkeypatch.setattr(tool, 'pipeline_loaders', lambda p: (None, None))
    monkeypatch.setattr(tool, 'read_image', lambda *a: None)
    listed = record(monkeypatch, tool, 'list_images', returns=['x.png'])
    analysed = record(monkeypatch, tool, 'analyse_image')
    out = tmp_path / 'out'
    run_main(tool.main, [
        str(cfg), 'CKPT', 'IMGS', '--out-dir', str(out), '--max-images', '2',
        '--device', 'cuda:1', '--predict-on', 'teacher', '--threshold', '0',
        '--cfg-options', 'model.extra=5'])
    config = list(inits[0].values())[0]
    assert (config.model.predict_on, config.model.extra) == ('teacher', 5)
    assert inits[0]['device'] == 'cuda:1'
    assert list(listed[0].values()) == [['IMGS'], 2]
    assert list(analysed[0].values())[-1] == 0.0
    assert out.is_dir()
