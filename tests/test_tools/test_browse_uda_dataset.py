"""``tools/analysis_tools/browse_uda_dataset.py``: the items of a UDA
config's sample stream drawn side by side (mmseg's browse_dataset.py fails
on UDA items)."""

import cv2
import numpy as np
from mmengine.config import Config
from mmseg.registry import DATASETS

from mmseg_uda.apis.vis_utils import HEADER
from mmseg_uda.datasets.samplers.uda_sampler import make_index
from tests.helpers import (
    QUICKSTART_DACS,
    QUICKSTART_SOURCE_ONLY,
    load_tool,
)


def _tool():
    return load_tool('tools/analysis_tools/browse_uda_dataset.py')


def _options(roots):
    return ['--cfg-options',
            f'train_dataloader.dataset.source.data_root={roots["gta"]}',
            'train_dataloader.dataset.target.data_root='
            f'{roots["cityscapes"]}']


def test_uda_items_side_by_side(synthetic_data, tmp_path):
    """Source, source label, target and valid-mask panels of the stream's
    k-th item (rules out drawing another item than training gets, e.g.
    ignoring the RCS draw of the sampler)."""
    out = str(tmp_path / 'browse')
    written = _tool().main([QUICKSTART_DACS, '--num', '3', '--seed', '5',
                            '--output-dir', out] + _options(synthetic_data))
    assert len(written) == 3
    cfg = Config.fromfile(QUICKSTART_DACS)
    cfg.train_dataloader.dataset.source.data_root = synthetic_data['gta']
    cfg.train_dataloader.dataset.target.data_root = synthetic_data[
        'cityscapes']
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    for k, path in enumerate(written):
        item = dataset[make_index(dataset, 5, k)]
        panel = cv2.imread(path)  # BGR, as the inputs
        h, w = item['source']['inputs'].shape[1:]
        assert panel.shape[1] == 4 * w + 3 * 4  # four panels
        src = item['source']['inputs'].permute(1, 2, 0).numpy()
        assert np.array_equal(panel[HEADER:HEADER + h, :w], src)
        tgt = item['target']['inputs'].permute(1, 2, 0).numpy()
        x = 2 * (w + 4)
        assert np.array_equal(panel[HEADER:HEADER + h, x:x + w], tgt)


def test_plain_training_dataset(synthetic_data, tmp_path):
    written = _tool().main([
        QUICKSTART_SOURCE_ONLY, '--num', '2', '--output-dir',
        str(tmp_path), '--cfg-options',
        f'train_dataloader.dataset.data_root={synthetic_data["gta"]}'])
    assert len(written) == 2
    assert cv2.imread(written[0]).shape[1] == 2 * 128 + 4
