"""Count, log and record the training samples that could not be read."""
import logging
import os.path as osp
from typing import Dict, List

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS

from ...datasets.bad_samples import BadSampleError, replaced_samples
from ...utils.io import atomic_write_json
from ...utils.rank_agreement import count_over_ranks, gather_over_ranks

#: the checkpoint ``meta`` key holding the unreadable samples met so far.
META_KEY = 'uda_bad_samples'


@HOOKS.register_module()
class BadSampleHook(Hook):
    """Runtime policy for unreadable training samples (the data side is
    :func:`mmseg_uda.datasets.bad_samples.load_or_replace`, used by
    ``UDADataset``: a sample whose files cannot be read is replaced by a
    deterministic stand-in and reported in the batch).

    Before each training iteration the reports of all ranks are combined
    (one scalar all-reduce; the reports are gathered only when there are
    some), so every rank takes the same decision:

    - each unreadable file met for the first time is logged with its path
      and error (a warning) and counted;
    - ``<work_dir>/<record_file>`` lists every unreadable file met, with the
      iteration it was first met and how often it was met (rewritten
      atomically by rank 0);
    - when more than ``max_bad_samples`` distinct files were unreadable,
      every rank raises :class:`BadSampleError` naming them (a storage
      problem rather than a few damaged files).

    The files met are saved in the checkpoint (``meta``), so the count
    continues after a resume; add them to the dataset's
    ``bad_samples.json`` to leave them out from the start.

    Args:
        max_bad_samples (int): distinct unreadable files tolerated.
            Defaults to 100.
        record_file (str): file in the work dir listing them. Defaults to
            ``'bad_samples_runtime.json'``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, max_bad_samples: int = 100,
                 record_file: str = 'bad_samples_runtime.json') -> None:
        if max_bad_samples < 0:
            raise ValueError(
                f'BadSampleHook: max_bad_samples must be >= 0, got '
                f'{max_bad_samples}')
        self.max_bad_samples = int(max_bad_samples)
        self.record_file = record_file
        self.seen: Dict[str, dict] = {}

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        local = replaced_samples(data_batch) if isinstance(
            data_batch, dict) else []
        if count_over_ranks(len(local)) == 0:
            return
        records: List[dict] = [
            r for rank_records in gather_over_ranks(local)
            for r in rank_records
        ]
        new = []
        for record in records:
            entry = self.seen.get(record['path'])
            if entry is None:
                entry = dict(path=record['path'], error=record['error'],
                             first_iteration=runner.iter, occurrences=0)
                self.seen[record['path']] = entry
                new.append(entry)
            entry['occurrences'] += 1
        for entry in new:
            print_log(
                f'Unreadable training sample {entry["path"]} (iteration '
                f'{runner.iter}): {entry["error"]}. Replaced by a '
                f'deterministic stand-in; {len(self.seen)} unreadable '
                f'(limit {self.max_bad_samples}).',
                logger='current', level=logging.WARNING)
        if is_main_process():
            atomic_write_json(
                osp.join(runner.work_dir, self.record_file),
                list(self.seen.values()))
        if len(self.seen) > self.max_bad_samples:
            listed = '; '.join(f'{e["path"]} ({e["error"]})'
                               for e in self.seen.values())
            raise BadSampleError(
                f'{len(self.seen)} training samples could not be read, more '
                f'than BadSampleHook.max_bad_samples={self.max_bad_samples} '
                f'(listed in {osp.join(runner.work_dir, self.record_file)})'
                f': {listed}. Fix or restore the files (or list them in the '
                "dataset's bad_samples.json), then resume with --resume.")

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})[META_KEY] = [
            dict(e) for e in self.seen.values()
        ]

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        entries = checkpoint.get('meta', {}).get(META_KEY, [])
        self.seen = {e['path']: dict(e) for e in entries}
