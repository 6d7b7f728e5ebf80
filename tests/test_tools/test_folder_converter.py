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
    assert read_json(own['sim'], 'bad_samples.json') == []


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
    assert read_json(sim, 'bad_samples.json') == summary['bad_samples']
    good = sorted(f'ann/sim_{i:05d}.png' for i in range(12)
                  if i not in (1, 2, 3, 4, 6))
    assert read_json(sim, 'sample_class_stats.json') == direct_stats(
        sim, good)


def test_rerun_gives_the_same_outputs(own):
    convert_sim(own)
    names = ('bad_samples.json', 'sample_class_stats.json',
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
