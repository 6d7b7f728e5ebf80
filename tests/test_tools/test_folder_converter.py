"""``tools/dataset_converters/folder.py``: any image folder + label folder
checked sample by sample (bad samples reported with the file and the
offending values), RCS statistics equal to a direct count, label-id
mapping, unlabelled folders, idempotent re-runs."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from tests.helpers import load_tool, own_data_layout

folder = load_tool('tools/dataset_converters/folder.py')


@pytest.fixture
def own(synthetic_data, tmp_path):
    return own_data_layout(synthetic_data, str(tmp_path / 'data'))


def convert_sim(own, **kwargs):
    args = dict(img_dir='img', ann_dir='ann', img_suffix='.jpg',
                seg_map_suffix='.png', num_classes=19)
    args.update(kwargs)
    return folder.convert_folder(own['sim'], **args)


def read_json(root, name):
    with open(osp.join(root, name)) as f:
        return json.load(f)


def direct_stats(root, files, num_classes=19):
    """sample_class_stats of ``files`` by a plain count of their pixels."""
    out = []
    for rel in files:
        ids = np.array(Image.open(osp.join(root, rel)))
        entry = {'file': rel}
        for c in range(num_classes):
            n = int((ids == c).sum())
            if n:
                entry[str(c)] = n
        out.append(entry)
    return out


def test_statistics_equal_a_direct_count(own):
    """Rules out counting the wrong file, dropping classes, or counting
    ignore pixels; samples_with_class is the same data by class."""
    summary = convert_sim(own, nproc=2)
    assert summary['total'] == 12 and summary['bad'] == 0
    files = sorted(f'ann/{n}' for n in os.listdir(osp.join(own['sim'],
                                                           'ann')))
    stats = read_json(own['sim'], 'sample_class_stats.json')
    assert stats == direct_stats(own['sim'], files)
    swc = read_json(own['sim'], 'samples_with_class.json')
    for c, entries in swc.items():
        assert entries == [[e['file'], e[c]] for e in stats if c in e]
    assert read_json(own['sim'], 'bad_samples_img.json') == []


def test_every_kind_of_bad_sample_is_reported_with_file_and_values(own):
    """Unreadable image, missing label, size mismatch, values outside the
    classes and the ignore index, a colour (RGB) label: each listed with its
    file (and values), left out of the statistics, the others still
    counted."""
    sim = own['sim']
    with open(osp.join(sim, 'img', 'sim_00001.jpg'), 'wb') as f:
        f.write(b'not a jpeg')
    os.remove(osp.join(sim, 'ann', 'sim_00002.png'))
    Image.fromarray(np.zeros((7, 9), np.uint8)).save(
        osp.join(sim, 'ann', 'sim_00003.png'))
    lbl = osp.join(sim, 'ann', 'sim_00004.png')
    ids = np.array(Image.open(lbl))
    ids[0, :3] = [40, 19, 254]
    Image.fromarray(ids).save(lbl)
    colour = osp.join(sim, 'ann', 'sim_00006.png')
    Image.fromarray(np.stack([np.array(Image.open(colour))] * 3, -1)).save(
        colour)  # an RGB label: mmseg's loader would give (H, W, 3)
    summary = convert_sim(own)
    reasons = {b['image']: b['reason'] for b in summary['bad_samples']}
    assert 'channels (RGB)' in reasons.pop('img/sim_00006.jpg')
    assert reasons == {
        'img/sim_00001.jpg': 'unreadable image',
        'img/sim_00002.jpg': 'label file missing',
        'img/sim_00003.jpg': pytest.approx(reasons['img/sim_00003.jpg']),
        'img/sim_00004.jpg': 'label values [19, 40, 254] outside the 19 '
                             'classes and the ignore index 255',
    }
    assert 'size mismatch' in reasons['img/sim_00003.jpg']
    assert '(9, 7)' in reasons['img/sim_00003.jpg']
    assert read_json(sim, 'bad_samples_img.json') == summary['bad_samples']
    good = sorted(f'ann/sim_{i:05d}.png' for i in range(12)
                  if i not in (1, 2, 3, 4, 6))
    assert read_json(sim, 'sample_class_stats.json') == direct_stats(
        sim, good)


def test_rerun_gives_the_same_outputs(own):
    convert_sim(own)
    names = ('bad_samples_img.json', 'sample_class_stats.json',
             'samples_with_class.json')
    before = {n: open(osp.join(own['sim'], n)).read() for n in names}
    again = convert_sim(own)
    assert again['written'] == 0
    assert {n: open(osp.join(own['sim'], n)).read()
            for n in names} == before
    assert not [f for f in os.listdir(own['sim']) if f.endswith('.tmp')]


def test_mapping_from_json_writes_class_id_labels(own, tmp_path):
    """Label ids mapped through a JSON table (an unmapped id makes the
    sample bad); labels rewritten only when the mapping changes them."""
    sim = own['sim']
    mapping = {str(c): (c + 1) % 19 for c in range(19)}
    mapping['255'] = 255
    table = tmp_path / 'ids.json'
    table.write_text(json.dumps(mapping))
    lbl = osp.join(sim, 'ann', 'sim_00005.png')
    ids = np.array(Image.open(lbl))
    ids[0, 0] = 77  # not in the table
    Image.fromarray(ids).save(lbl)
    summary = convert_sim(own, mapping=str(table))
    assert summary['seg_map_suffix'] == '_labelTrainIds.png'
    assert [b['reason'] for b in summary['bad_samples']] == [
        'unknown label values [77]']
    src = np.array(Image.open(osp.join(sim, 'ann', 'sim_00000.png')))
    out = np.array(Image.open(osp.join(sim, 'ann',
                                       'sim_00000_labelTrainIds.png')))
    expected = np.where(src == 255, 255, (src.astype(int) + 1) % 19)
    np.testing.assert_array_equal(out, expected)
    stats = read_json(sim, 'sample_class_stats.json')
    assert stats[0]['file'] == 'ann/sim_00000_labelTrainIds.png'
    assert convert_sim(own, mapping=str(table))['written'] == 0
    mapping.update({str(c): c for c in range(19)})
    table.write_text(json.dumps(mapping))
    assert convert_sim(own, mapping=str(table))['written'] == 11
    with pytest.raises(ValueError, match=r"\{3: 19\}"):
        table.write_text(json.dumps({'3': 19}))
        convert_sim(own, mapping=str(table))


def test_unlabelled_folder_checks_images_only(own):
    img = osp.join(own['real'], 'train', sorted(os.listdir(
        osp.join(own['real'], 'train')))[2])
    with open(img, 'wb') as f:
        f.write(b'\x89PNG broken')
    summary = folder.convert_folder(own['real'], img_dir='train',
                                    img_suffix='.png', recursive=False)
    assert summary['total'] == 6
    assert summary['bad_samples'] == [{
        'image': 'train/' + osp.basename(img), 'label': None,
        'reason': 'unreadable image'}]
    assert not osp.exists(osp.join(own['real'], 'sample_class_stats.json'))


def test_suffix_mistakes(own, capsys):
    """No image with the suffix: an error naming folder, suffix and the
    suffixes seen; a few upper-case ones: a warning with their count."""
    with pytest.raises(ValueError,
                       match=r"no image ending in '\.jpg'.*real/train.*"
                       r"'\.png': 6"):
        folder.convert_folder(own['real'], img_dir='train')
    img_dir = osp.join(own['sim'], 'img')
    for name in sorted(os.listdir(img_dir))[:5]:
        os.rename(osp.join(img_dir, name),
                  osp.join(img_dir, name[:-4] + '.JPG'))
    assert folder.main([own['sim'], '--img-dir', 'img', '--ann-dir', 'ann',
                        '--img-suffix', '.jpg', '--num-classes', '19']) == 0
    out = capsys.readouterr().out
    assert "'.JPG': 5" in out and 'only in case' in out
    assert '7/7 samples' in out
    assert "type='FolderSegDataset'" in out


def _truncate(path, keep=0.6):
    """Cut a JPEG file: ``cv2.imread`` still returns an image (grey where
    the data is missing), mmcv's decoding (training's) returns nothing."""
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:int(len(data) * keep)])


def test_truncated_jpeg_is_a_bad_sample(own):
    """Decoded as training decodes it (rules out ``cv2.imread``, which
    passed it with '0 bad')."""
    _truncate(osp.join(own['sim'], 'img', 'sim_00007.jpg'))
    summary = convert_sim(own)
    assert [(b['image'], b['reason']) for b in summary['bad_samples']] == [
        ('img/sim_00007.jpg', 'unreadable image')]


def test_two_folders_of_one_root_keep_their_reports(own):
    """A labelled val folder and an unlabelled train folder checked in one
    root: the second check keeps the first one's report (rules out one
    ``bad_samples.json`` per root, which the re-run overwrote), and the val
    dataset leaves out its bad sample (tools/test.py failed on its missing
    label)."""
    from mmseg.registry import DATASETS
    real = own['real']
    val_ann = osp.join(real, 'val', 'ann')
    missing = sorted(os.listdir(val_ann))[1]
    os.remove(osp.join(val_ann, missing))
    val = folder.convert_folder(real, img_dir='val/img', ann_dir='val/ann',
                                img_suffix='.png', num_classes=19)
    assert val['report'] == 'bad_samples_val_img.json'
    for _ in range(2):  # the unlabelled check, and a re-run of it
        train = folder.convert_folder(real, img_dir='train',
                                      img_suffix='.png', recursive=False)
        assert train['report'] == 'bad_samples_train.json'
    assert [b['image'] for b in read_json(real, 'bad_samples_val_img.json')
            ] == [f'val/img/{missing}']
    assert read_json(real, 'bad_samples_train.json') == []
    dataset = DATASETS.build(dict(
        type='FolderSegDataset', data_root=real,
        data_prefix=dict(img_path='val/img', seg_map_path='val/ann'),
        img_suffix='.png', seg_map_suffix='.png',
        metainfo=dict(classes=tuple(str(c) for c in range(19))),
        pipeline=[]))
    names = [osp.basename(dataset.get_data_info(i)['img_path'])
             for i in range(len(dataset))]
    assert len(names) == 3 and missing not in names


def test_report_names_per_folder_and_split():
    from mmseg_uda.datasets.dataset_files import folder_report_name
    assert folder_report_name('') == 'bad_samples.json'  # the root's
    assert folder_report_name('val/img') == 'bad_samples_val_img.json'
    assert folder_report_name('img', 'lists/train.txt') == \
        'bad_samples_img_train.json'
    assert folder_report_name('.', 'val.txt') == 'bad_samples_val.json'


def test_progress_without_a_terminal_is_plain_lines(own, capsys):
    """Output to a file or a pipe (capsys: not a TTY) gets a plain line at
    every tenth of the samples, never a carriage-return bar."""
    assert folder.main([own['sim'], '--img-dir', 'img', '--ann-dir', 'ann',
                        '--num-classes', '19', '--nproc', '2']) == 0
    out = capsys.readouterr().out
    assert '\r' not in out
    lines = [line for line in out.splitlines() if 'samples done' in line]
    assert [line.split()[0] for line in lines] == [
        f'{n}/12' for n in (2, 4, 6, 8, 10, 12)]


def test_cityscapes_categories_mapping(own):
    """``--mapping cityscapes-categories``: Cityscapes label ids to the 7
    categories (cityscapesscripts' categoryId - 1) for the 19 evaluated
    classes; void and labels ignored in evaluation (parking 9, rail track
    10) to 255."""
    sim = own['sim']
    lbl = osp.join(sim, 'ann', 'sim_00000.png')
    ids = np.zeros((8, 10), np.uint8)
    # road, sidewalk, building, pole, vegetation, sky, person, car,
    # bicycle, parking, rail track, void (unlabeled)
    ids[0, :10] = [7, 8, 11, 17, 21, 23, 24, 26, 33, 9]
    ids[1, :2] = [10, 0]
    Image.fromarray(ids).save(lbl)
    Image.fromarray(np.random.default_rng(0).integers(
        0, 255, (8, 10, 3), np.uint8)).save(
        osp.join(sim, 'img', 'sim_00000.jpg'))
    summary = convert_sim(own, mapping='cityscapes-categories',
                          num_classes=7)
    out = np.array(Image.open(osp.join(sim, 'ann',
                                       'sim_00000_labelTrainIds.png')))
    assert out[0, :10].tolist() == [0, 0, 1, 2, 3, 4, 5, 6, 6, 255]
    assert out[1, :2].tolist() == [255, 255]
    assert 'img/sim_00000.jpg' not in [b['image']
                                       for b in summary['bad_samples']]
    assert folder.TABLE_CLASSES['cityscapes-categories'] == (
        'flat', 'construction', 'object', 'nature', 'sky', 'human',
        'vehicle')
