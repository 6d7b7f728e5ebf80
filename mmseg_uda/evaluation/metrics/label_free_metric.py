"""Label-free checkpoint ranking: criteria computed from the predictions
on (unlabelled) target images, as an mmseg ``val_evaluator`` /
``test_evaluator`` (docs/model_selection.md)."""
import os.path as osp
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmseg.registry import METRICS

from ...datasets.rare_class_sampling import source_class_frequencies
from ..label_free import (
    CRITERIA,
    DEFAULT_CRITERION,
    batch_nuclear_norm,
    class_balance,
    collapsed_classes,
    information_maximisation,
    pixel_entropy,
    sample_pixel_indices,
    soft_neighbourhood_density,
)


@METRICS.register_module()
class LabelFreeMetric(BaseMetric):
    """Label-free criteria of the predictions (``seg_logits``) on target
    images; no ground truth is read, so the dataset may have none (a test
    pipeline without ``LoadAnnotations``).

    Keys (with the default prefix ``label_free``): ``label_free/<name>``
    for each criterion of :data:`mmseg_uda.evaluation.label_free.CRITERIA`
    that can be computed, and ``label_free/score``: the ``select`` criterion
    oriented so that higher is better (``-entropy`` for entropy), the key
    to give to ``CheckpointHook(save_best='label_free/score',
    rule='greater')``. ``label_free/collapsed`` counts the classes that the
    collapse rule flags (needs ``source_stats``).

    - ``entropy``: mean per-pixel entropy (nats); ``confidence``: mean
      max-softmax probability (the naive baselines);
    - ``im``: entropy of the mean prediction minus ``entropy``;
    - ``snd``: soft neighbourhood density of ``num_pixels`` pixels sampled
      per image (the same pixels of an image file on every rank, in any
      folder), averaged over
      the images;
    - ``bnm``: nuclear norm / N of the same sampled pixels, averaged;
    - ``class_balance``: ``-KL(source || predicted class shares)`` (with
      ``source_stats``).

    Args:
        select (str, optional): the criterion behind ``score``. Defaults to
            None: :data:`mmseg_uda.evaluation.label_free.DEFAULT_CRITERION`
            (the best of ``benchmarks/model_selection.py``;
            docs/model_selection.md).
        num_pixels (int): pixels sampled per image for SND and BNM.
            Defaults to 100 (the SND reference's segmentation setting).
        temperature (float): SND's softmax temperature. Defaults to 0.05.
        source_stats (str, optional): the source dataset's
            ``sample_class_stats.json`` (or its folder), for
            ``class_balance`` and the collapse count. Defaults to None.
        collapse_ratio (float): see
            :func:`mmseg_uda.evaluation.label_free.collapsed_classes`.
            Defaults to 0.1.
        seed (int): seed of the pixel sampling. Defaults to 0.
        collect_device (str): mmengine's. Defaults to 'cpu'.
        prefix (str): key prefix. Defaults to 'label_free'.
    """

    default_prefix = 'label_free'

    def __init__(self,
                 select: Optional[str] = None,
                 num_pixels: int = 100,
                 temperature: float = 0.05,
                 source_stats: Optional[str] = None,
                 collapse_ratio: float = 0.1,
                 seed: int = 0,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        select = select or DEFAULT_CRITERION
        if select not in CRITERIA:
            raise ValueError(f'LabelFreeMetric: select={select!r} is not a '
                             f'criterion; choose from {sorted(CRITERIA)}')
        if select == 'class_balance' and source_stats is None:
            raise ValueError("LabelFreeMetric: select='class_balance' needs "
                             'source_stats (the source '
                             'sample_class_stats.json)')
        if num_pixels < 2:
            raise ValueError(f'num_pixels must be >= 2, got {num_pixels}')
        self.select = select
        self.num_pixels = num_pixels
        self.temperature = temperature
        self.source_stats = source_stats
        self.collapse_ratio = collapse_ratio
        self.seed = seed
        self._source_freq = None

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Per image: pixel count, sums of entropy, confidence and
        probabilities, predicted class counts, SND and BNM of its sampled
        pixels (moved to the CPU once per image)."""
        for i, sample in enumerate(data_samples):
            logits = sample['seg_logits']['data']
            probs = torch.softmax(logits.float(), dim=0).flatten(1)  # C, N
            num_classes, n = probs.shape
            # the file name: the same pixels wherever the image lies
            key = osp.basename(sample.get('img_path') or '') or \
                f'{len(self.results)}_{i}'
            idx = sample_pixel_indices(n, self.num_pixels, str(key),
                                       self.seed).to(probs.device)
            picked = probs[:, idx].t()
            conf, pred = probs.max(dim=0)
            stats = torch.cat([
                torch.stack([
                    pixel_entropy(probs, dim=0).sum(), conf.sum(),
                    soft_neighbourhood_density(picked, self.temperature),
                    batch_nuclear_norm(picked)
                ]),
                probs.sum(dim=1),
                torch.bincount(pred, minlength=num_classes).float()
            ]).double().cpu().numpy()
            self.results.append(dict(n=n, stats=stats))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        if not results:
            raise ValueError('LabelFreeMetric: no prediction to evaluate')
        n = float(sum(r['n'] for r in results))
        stats = np.stack([r['stats'] for r in results])
        num_classes = (stats.shape[1] - 4) // 2
        total = stats.sum(0)
        entropy = total[0] / n
        marginal = total[4:4 + num_classes] / n
        pred_share = total[4 + num_classes:] / n
        out = dict(
            entropy=entropy, confidence=total[1] / n,
            snd=stats[:, 2].mean(), bnm=stats[:, 3].mean(),
            im=float(information_maximisation(
                torch.tensor(entropy), torch.from_numpy(marginal))))
        if self.source_stats is not None:
            freq = self.source_freq(num_classes)
            out['class_balance'] = float(class_balance(
                torch.from_numpy(pred_share), torch.from_numpy(freq)))
            out['collapsed'] = len(collapsed_classes(
                pred_share, freq, self.collapse_ratio))
        out['score'] = CRITERIA[self.select] * out[self.select]
        return {k: float(v) for k, v in out.items()}

    def source_freq(self, num_classes: int) -> np.ndarray:
        """The source class frequencies read from ``source_stats``."""
        if self._source_freq is None:
            self._source_freq = source_class_frequencies(
                self.source_stats, num_classes)
        return self._source_freq
