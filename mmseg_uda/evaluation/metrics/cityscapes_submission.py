"""Cityscapes test-server submission: mmseg's ``CityscapesMetric`` writes
the labelId PNGs; this adds the check and the archive (docs/submit.md)."""
import os.path as osp
from typing import Dict, Optional, Sequence

import cityscapesscripts.helpers.labels as CSLabels
from mmseg.evaluation import CityscapesMetric
from mmseg.registry import METRICS

from .submission import (
    SubmissionArchiveMixin,
    label_map,
    prediction_name,
)


@METRICS.register_module()
class CityscapesSubmissionMetric(SubmissionArchiveMixin, CityscapesMetric):
    """Writes the Cityscapes pixel-level semantic labeling submission.

    mmseg's ``CityscapesMetric(format_only=True)`` converts each prediction
    to Cityscapes labelIds and writes ``<image name>.png`` (e.g.
    ``berlin_000000_000019_leftImg8bit.png``, which the server matches by
    ``<city>_<seq>_<frame>*``) at the image's size. This metric writes them
    into ``<output_dir>/<archive_name>/``, checks them against the test
    images (labelIds of the 19 evaluated classes only) and zips them to
    ``<output_dir>/<archive_name>.zip``, files at the root.

    Args:
        output_dir (str): folder of the archive.
        archive_name (str): name of the archive and its folder. Defaults
            to 'cityscapes_test'.
        expected_images (int, optional): images of the server's test split
            (1525); None: not checked.
        **kwargs: ``CityscapesMetric`` arguments (``collect_device``,
            ``prefix``); ``format_only`` must stay True.
    """

    def __init__(self,
                 output_dir: str,
                 archive_name: str = 'cityscapes_test',
                 expected_images: Optional[int] = None,
                 format_only: bool = True,
                 **kwargs) -> None:
        if not format_only:
            raise ValueError(
                f'{type(self).__name__} writes a submission of the unlabelled '
                "test split (format_only=True); evaluate val with "
                "type='IoUMetric' or 'CityscapesMetric'")
        kwargs.pop('keep_results', None)
        self._init_pred_dir(output_dir, archive_name)
        # CityscapesMetric writes its PNGs into its output_dir
        super().__init__(output_dir=self.pred_dir, format_only=True,
                         keep_results=True, **kwargs)
        self.expected_images = expected_images
        # labelIds of the trainIds 0..18 (cityscapesscripts' table, which
        # CityscapesMetric converts with)
        self.label_ids = sorted(CSLabels.trainId2label[t].id
                                for t in range(19))

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        super().process(data_batch, data_samples)
        # CityscapesMetric's results are (png path, ''): replaced by the
        # name, size and allowed values the check needs
        first = len(self.results) - len(data_samples)
        for i, data_sample in enumerate(data_samples):
            name = prediction_name(data_sample['img_path'])
            if osp.basename(self.results[first + i][0]) != name:
                raise ValueError(f'CityscapesMetric wrote '
                                 f'{self.results[first + i][0]} for '
                                 f'{data_sample["img_path"]}')
            self.results[first + i] = dict(
                img_path=data_sample['img_path'],
                files={name: (label_map(data_sample).shape, 'uint8',
                              self.label_ids)})

    def compute_metrics(self, results: list) -> Dict[str, float]:
        return self.write_submission(results)

    def __del__(self) -> None:
        # CityscapesMetric removes its folder unless keep_results: the
        # predictions are the submission, always kept
        pass
