"""Path checks and bad-sample exclusion shared by the plugin's datasets."""
import os.path as osp

from mmseg.datasets import CityscapesDataset

from .bad_samples import filter_bad_samples
from .label_conversion import BAD_SAMPLES_FILE


class CheckedCityscapesLabelDataset(CityscapesDataset):
    """Cityscapes-class dataset (19 classes and palette) that

    - raises ``FileNotFoundError`` naming the path when ``data_root`` or the
      image folder is missing (instead of an empty dataset or an obscure
      error later),
    - leaves out the samples listed in the converter's bad-sample report
      (``bad_samples_file``, relative to ``data_root``; None disables),
      with a warning: bad samples are never used silently.
    """

    def __init__(self, *args, bad_samples_file=BAD_SAMPLES_FILE, **kwargs):
        self.bad_samples_file = bad_samples_file
        super().__init__(*args, **kwargs)

    def _check_dir(self, path, what):
        if path and not osp.isdir(path):
            raise FileNotFoundError(
                f'{type(self).__name__}: {what} {path!r} does not exist '
                '(see docs/dataset_prepare.md)')

    def load_data_list(self):
        self._check_dir(self.data_root, 'data_root')
        if not (self.ann_file and osp.isfile(self.ann_file)):
            self._check_dir(self.data_prefix.get('img_path'), 'image folder')
        data_list = super().load_data_list()
        return self._exclude_bad_samples(data_list)

    def _exclude_bad_samples(self, data_list):
        return filter_bad_samples(data_list, self.data_root,
                                  self.bad_samples_file, type(self).__name__)
