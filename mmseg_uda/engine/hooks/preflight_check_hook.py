"""The checks before the first iteration, run from inside the run."""
from typing import Set

from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ...datasets.data_checks import (
    DEFAULT_MAX_SAMPLES,
    DataCheckError,
    check_runner_datasets,
)
from ...utils.rank_agreement import raise_on_any_rank
from ..config_validation import UDAConfigError, validate_uda_config

_WHEN = dict(train='training', val='validation', test='testing')


@HOOKS.register_module()
class PreflightCheckHook(Hook):
    """Check the config and the data of a run before its first iteration,
    whatever the entry point: the plugin's ``tools/train.py`` and
    ``tools/test.py``, mmseg's ``train.py``/``test.py``, ``mim train``, or
    ``Runner.from_cfg(cfg).train()`` all stop at the same moment with the
    same errors.

    - ``before_train``: :func:`~mmseg_uda.engine.config_validation.
      validate_uda_config` on ``runner.cfg`` (:class:`UDAConfigError`),
      then the training and validation data
      (:func:`~mmseg_uda.datasets.data_checks.check_runner_datasets`,
      :class:`DataCheckError`: labels, images decoded as the pipeline
      decodes them, rare class sampling statistics);
    - ``before_val`` of a validation-only run (``runner.val()``) and
      ``before_test``: the data of that run.

    mmengine builds the data loaders (and so the datasets) before calling
    hooks; what a dataset refuses when it is built (a missing folder, a
    target pipeline that loads labels) is raised by the dataset itself.
    Each problem is reported at once, naming the file or config key; under
    DDP every rank stops with the same error.

    Declared in ``configs/_base_/default_hooks.py`` (key ``preflight``);
    set ``default_hooks.preflight=None`` to switch the checks off.

    Args:
        max_samples (int): files per dataset whose content is decoded
            (evenly spread; every file's existence is checked). Defaults
            to 64.
        check_config (bool): validate the config before training. Defaults
            to True.
    """

    priority = 'VERY_HIGH'

    def __init__(self, max_samples: int = DEFAULT_MAX_SAMPLES,
                 check_config: bool = True):
        if int(max_samples) < 1:
            raise ValueError('PreflightCheckHook: max_samples must be >= 1, '
                             f'got {max_samples}')
        self.max_samples = int(max_samples)
        self.check_config = check_config
        self._checked: Set[str] = set()

    def _check(self, runner, mode: str) -> None:
        self._checked.add(mode)
        error = None
        try:
            if mode == 'train' and self.check_config:
                validate_uda_config(runner.cfg)
            check_runner_datasets(runner, mode, self.max_samples)
        except (UDAConfigError, DataCheckError) as e:
            error = e
        raise_on_any_rank(error, f'The checks before {_WHEN[mode]}')

    def before_train(self, runner) -> None:
        self._check(runner, 'train')

    def before_val(self, runner) -> None:
        # During training the validation data was checked with the
        # training data.
        if not self._checked & {'train', 'val'}:
            self._check(runner, 'val')

    def before_test(self, runner) -> None:
        if 'test' not in self._checked:
            self._check(runner, 'test')
