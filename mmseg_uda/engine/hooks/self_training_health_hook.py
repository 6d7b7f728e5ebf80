"""Self-training health without target labels: is the target term of
DACS-style training on, do student and teacher agree, is a class
disappearing from the target predictions (docs/model_selection.md)."""
import logging
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import all_reduce, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS
from mmseg.structures import SegDataSample

from ...datasets.dataset_files import STATS_FILE
from ...datasets.rare_class_sampling import source_class_frequencies
from ...evaluation.label_free import collapsed_classes, pixel_entropy
from ...utils.io import atomic_write_json

#: what the self-training-off warning recommends (docs/model_selection.md)
SELF_TRAINING_OFF_ADVICE = (
    'let pseudo-labels below the fixed threshold count with class-wise '
    'adaptive thresholds (--cfg-options '
    'model.pseudo_threshold_mode=classwise; +1.5 mIoU in '
    'benchmarks/pseudo_threshold.py), or warm-start the UDA run from a '
    'source-only checkpoint (--cfg-options load_from=<source-only work '
    'dir>/iter_N.pth), or lower model.pseudo_threshold; see '
    'docs/model_selection.md')


@HOOKS.register_module()
class SelfTrainingHealthHook(Hook):
    """Label-free health of a UDA run, logged at every validation through
    the message hub (``val/health/*``: the console line, ``scalars.json``,
    TensorBoard and W&B) and written to ``<log_dir>/health.json``:

    - ``confident_share``: mean of the model's ``pseudo_weight`` log value
      (DACS: share of teacher pixels at or above the pseudo-label
      threshold) over the training iterations since the last validation;
    - ``agreement``: share of the pixels of the first ``agreement_images``
      validation images where the EMA teacher and the student predict the
      same class (UDA models with a teacher);
    - ``entropy``: mean per-pixel entropy (nats) of the student's
      predictions on the validation images;
    - per class: share of the validation pixels predicted as the class,
      against the source class frequencies; **collapse alarm** (a warning
      naming the classes) when a class with a source frequency of at least
      ``min_source_freq`` is predicted on less than ``collapse_ratio``
      times its source frequency
      (:func:`mmseg_uda.evaluation.label_free.collapsed_classes`) *and*
      less than ``collapse_ratio`` times its own highest share at an
      earlier validation (it fell; a class not learned yet is no alarm);
    - **self-training-off warning** when ``pseudo_weight`` has stayed below
      ``off_threshold`` for ``off_iters`` consecutive iterations, with what
      to do.

    No ground truth is read. Training iterations add no host-device sync:
    the values are accumulated on the device and read every ``interval``
    iterations and at validation. Under DDP, sums and counts are summed
    over the ranks (the statistics of the union of the ranks' data); a run
    of low-confidence iterations counts when every rank had it (minimum).

    Args:
        interval (int): iterations between two self-training-off checks.
            Defaults to 50.
        off_threshold (float): confident share regarded as "off".
            Defaults to 0.01.
        off_iters (int): consecutive iterations below ``off_threshold``
            before the warning. Defaults to 200.
        collapse_ratio (float): see above. Defaults to 0.1.
        min_source_freq (float): see above. Defaults to 0.005.
        source_stats (str, optional): the source ``sample_class_stats.json``
            or its folder. Defaults to None: the training source dataset's
            (``train_dataloader.dataset.source.data_root`` or the RCS
            ``stats_dir``) when the file exists, else the class counts of
            the source labels of the training batches (rare class sampling
            over-represents rare classes there).
        agreement_images (int): validation images (per rank) on which the
            teacher also predicts. 0 switches the agreement off. Defaults
            to 16.
        collapse_begin (int, optional): first iteration at which the
            collapse rule is applied: a model at its first iterations
            predicts few classes anywhere. Defaults to None: 10 % of the
            run's ``max_iters``.
    """

    priority = 'NORMAL'  # before LoggerHook, which prints val/health/*

    def __init__(self,
                 interval: int = 50,
                 off_threshold: float = 0.01,
                 off_iters: int = 200,
                 collapse_ratio: float = 0.1,
                 min_source_freq: float = 0.005,
                 source_stats: Optional[str] = None,
                 agreement_images: int = 16,
                 collapse_begin: Optional[int] = None):
        if interval < 1 or off_iters < 1:
            raise ValueError('SelfTrainingHealthHook: interval and off_iters '
                             f'must be >= 1, got {interval}, {off_iters}')
        self.interval = interval
        self.off_threshold = off_threshold
        self.off_iters = off_iters
        self.collapse_ratio = collapse_ratio
        self.min_source_freq = min_source_freq
        self.source_stats = source_stats
        self.agreement_images = agreement_images
        self.collapse_begin = collapse_begin
        self.history: List[dict] = []
        self._source_freq: Optional[np.ndarray] = None
        self._source_counts: Optional[torch.Tensor] = None
        self._warned_off = False
        self._reset_train()
        self._reset_val()

    # ------------------------------------------------------------ training
    def _reset_train(self) -> None:
        self._pw_sum = None  # device tensors: sum, count, runs
        self._pw_count = None
        self._run = None
        self._max_run = None

    def before_train(self, runner) -> None:
        path = self.source_stats or _source_stats_dir(runner.cfg)
        if path and osp.exists(path if path.endswith('.json') else
                               osp.join(path, STATS_FILE)):
            self._source_freq = source_class_frequencies(
                path, _num_classes(runner))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if self._source_freq is None and isinstance(data_batch, dict) and \
                'source' in data_batch:
            self._count_source_labels(data_batch['source'], runner)
        pw = (outputs or {}).get('pseudo_weight')
        if pw is not None:
            pw = torch.as_tensor(pw).detach().float().reshape(())
            if self._pw_sum is None:
                zero = torch.zeros((), device=pw.device)
                self._pw_sum, self._pw_count = zero.clone(), zero.clone()
                self._run, self._max_run = zero.clone(), zero.clone()
            self._pw_sum += pw
            self._pw_count += 1
            # length of the current run of "off" iterations, on the device
            self._run = (self._run + 1) * (pw < self.off_threshold)
            self._max_run = torch.maximum(self._max_run, self._run)
        if self.every_n_train_iters(runner, self.interval):
            self.check_self_training(runner)

    def _count_source_labels(self, source: dict, runner) -> None:
        # the collated batch is still on the CPU here: no device sync
        labels = [s.gt_sem_seg.data for s in source['data_samples']]
        n = _num_classes(runner)
        counts = sum(
            torch.bincount(lbl[lbl < n].flatten().long(), minlength=n)
            for lbl in labels)
        self._source_counts = counts if self._source_counts is None else \
            self._source_counts + counts

    def check_self_training(self, runner) -> bool:
        """Warn (once per episode) when the confident share has stayed
        below ``off_threshold`` for ``off_iters`` iterations on every rank;
        returns whether it has."""
        if self._max_run is None:
            return False
        run = self._max_run.clone()
        all_reduce(run, op='min')
        off = int(run.item()) >= self.off_iters
        if off and not self._warned_off:
            print_log(
                'Self-training is off: the confident share of the pseudo-'
                f'labels (pseudo_weight) stayed below {self.off_threshold} '
                f'for {int(run.item())} consecutive iterations (up to '
                f'iteration {runner.iter + 1}), so the target term of the '
                'self-training loss is almost zero and the run trains on '
                f'the source only. To fix it: {SELF_TRAINING_OFF_ADVICE}.',
                logger='current', level=logging.WARNING)
        self._warned_off = off
        if not off:
            self._max_run = self._run.clone()  # only the current run
        return off

    # ---------------------------------------------------------- validation
    def _reset_val(self) -> None:
        self._val = None  # device tensor: [pixels, entropy sum, counts...]
        self._agree = None  # device tensor: [agreeing pixels, pixels]
        self._agree_images = 0

    def before_val_epoch(self, runner) -> None:
        self._reset_val()

    def after_val_iter(self, runner, batch_idx: int, data_batch=None,
                       outputs: Optional[Sequence[SegDataSample]] = None
                       ) -> None:
        if not outputs or 'seg_logits' not in outputs[0]:
            return
        for sample in outputs:
            probs = torch.softmax(sample.seg_logits.data.float(), dim=0)
            n = probs.shape[1] * probs.shape[2]
            stats = torch.cat([
                torch.stack([probs.new_tensor(float(n)),
                             pixel_entropy(probs, dim=0).sum()]),
                torch.bincount(probs.argmax(0).flatten(),
                               minlength=probs.shape[0]).float()
            ])
            self._val = stats if self._val is None else self._val + stats
        model = _unwrap(runner.model)
        if getattr(model, 'teacher', None) is not None and \
                self._agree_images < self.agreement_images:
            self._agree_with_teacher(model, data_batch, outputs)

    def _agree_with_teacher(self, model, data_batch, outputs) -> None:
        data = model.data_preprocessor(data_batch, False)
        # fresh samples: the student's outputs stay untouched
        samples = [SegDataSample(metainfo=s.metainfo)
                   for s in data['data_samples']]
        with torch.no_grad():
            teacher = _unwrap(model.teacher).predict(data['inputs'], samples)
        for s, t in zip(outputs, teacher):
            a, b = s.pred_sem_seg.data, t.pred_sem_seg.data.to(
                s.pred_sem_seg.data.device)
            counts = torch.stack([(a == b).sum().float(),
                                  a.new_tensor(a.numel()).float()])
            self._agree = counts if self._agree is None else \
                self._agree + counts
        self._agree_images += len(outputs)

    def after_val_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        entry = self.summarise(runner)
        if entry is None:
            return
        self.history.append(entry)
        for key in ('confident_share', 'agreement', 'entropy', 'collapsed'):
            value = entry.get(key)
            if value is not None:
                value = len(value) if key == 'collapsed' else value
                runner.message_hub.update_scalar(f'val/health/{key}', value)
        shares = {f'health/class_share/{name}': v
                  for name, v in zip(entry['classes'], entry['class_share'])}
        runner.visualizer.add_scalars(shares, step=runner.iter)
        print_log(format_summary(entry), logger='current')
        if entry['collapsed']:
            print_log(collapse_message(entry), logger='current',
                      level=logging.WARNING)
        if is_main_process():
            atomic_write_json(osp.join(runner.log_dir, 'health.json'),
                              self.history)

    def summarise(self, runner) -> Optional[dict]:
        """This validation's entry (every rank's statistics summed); also
        resets the confident-share accumulators."""
        device = self._device(runner)
        n_cls = _num_classes(runner)
        val = self._val if self._val is not None else torch.zeros(
            2 + n_cls, device=device)
        val = val.to(device)
        all_reduce(val)
        if val[0] == 0:
            return None
        pw = torch.stack([self._pw_sum, self._pw_count]).to(device) if \
            self._pw_sum is not None else torch.zeros(2, device=device)
        all_reduce(pw)
        agree = self._agree.to(device) if self._agree is not None else \
            torch.zeros(2, device=device)
        all_reduce(agree)
        freq = self._source_frequencies(device)
        val, pw, agree = (t.double().cpu().numpy() for t in (val, pw, agree))
        share = val[2:] / val[0]
        classes = list(runner.val_dataloader.dataset.metainfo.get(
            'classes', [str(c) for c in range(n_cls)]))
        entry = dict(
            iter=runner.iter,
            confident_share=float(pw[0] / pw[1]) if pw[1] else None,
            agreement=float(agree[0] / agree[1]) if agree[1] else None,
            entropy=float(val[1] / val[0]),
            classes=classes, class_share=share.tolist(),
            source_freq=None if freq is None else freq.tolist(),
            collapsed=[], collapse_check=self._collapse_checked(runner))
        if freq is not None and entry['collapse_check'] and self.history:
            # a collapse is a fall: the class was predicted at an earlier
            # validation at least 1 / collapse_ratio times more (a class
            # the model has not learned yet is no alarm)
            peak = np.max([h['class_share'] for h in self.history], axis=0)
            entry['collapsed'] = [
                dict(cls=c, name=classes[c], share=q, source_freq=f)
                for c, q, f in collapsed_classes(
                    share, freq, self.collapse_ratio, self.min_source_freq)
                if q < self.collapse_ratio * peak[c]]
        if self._pw_sum is not None:
            self._pw_sum.zero_()
            self._pw_count.zero_()
        return entry

    def _collapse_checked(self, runner) -> bool:
        begin = self.collapse_begin
        if begin is None:
            begin = int(0.1 * (getattr(runner, 'max_iters', 0) or 0))
        return runner.iter >= begin

    def _source_frequencies(self, device) -> Optional[np.ndarray]:
        if self._source_freq is not None:
            return self._source_freq
        if self._source_counts is None:
            return None
        counts = self._source_counts.to(device).float()
        all_reduce(counts)
        counts = counts.double().cpu().numpy()
        return counts / counts.sum() if counts.sum() else None

    @staticmethod
    def _device(runner) -> torch.device:
        try:
            return next(_unwrap(runner.model).parameters()).device
        except StopIteration:
            return torch.device('cpu')


def format_summary(entry: dict) -> str:
    """One console line of a health entry."""

    def pct(v):
        return 'n/a' if v is None else f'{100 * v:.1f} %'

    parts = [f'confident share {pct(entry["confident_share"])}',
             f'teacher-student agreement {pct(entry["agreement"])}',
             f'mean entropy {entry["entropy"]:.3f}']
    if entry['source_freq'] is None:
        parts.append('no source class frequencies')
    elif not entry['collapse_check']:
        parts.append('no collapse check yet')
    else:
        parts.append(f'{len(entry["collapsed"])} collapsed classes')
    return (f'Self-training health at iteration {entry["iter"]}: ' +
            ', '.join(parts))


def collapse_message(entry: dict) -> str:
    """The collapse alarm of a health entry."""
    names = ', '.join(
        f'{c["name"]} ({100 * c["share"]:.2f} % of the target predictions '
        f'vs {100 * c["source_freq"]:.2f} % of the source pixels)'
        for c in entry['collapsed'])
    return (f'Class collapse at iteration {entry["iter"]}: {names}. The '
            'model has (almost) stopped predicting these classes on the '
            'target; self-training reinforces that. Check the class on a '
            'few target images (tools/analysis_tools/visualize_uda.py), '
            'keep an earlier checkpoint (tools/analysis_tools/'
            'rank_checkpoints.py) and see docs/model_selection.md.')


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def _num_classes(runner) -> int:
    return int(_unwrap(runner.model).num_classes)


def _source_stats_dir(cfg) -> Optional[str]:
    """Where the training source's RCS statistics live, from the config."""
    dataset = cfg.get('train_dataloader', {}).get('dataset', {})
    rcs = dataset.get('rare_class_sampling') or {}
    if rcs.get('stats_dir'):
        return rcs['stats_dir']
    source = dataset.get('source')
    return source.get('data_root') if source else None


__all__ = ['SelfTrainingHealthHook', 'collapse_message', 'format_summary']
