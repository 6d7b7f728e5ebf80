"""A stand-in runner for ``SelfTrainingHealthHook`` (the parts it reads:
model, message hub, visualizer, log dir, iteration, config, val set), and
hand-made predictions; shared by the single- and 2-process hook tests."""
import json
import os.path as osp
from types import SimpleNamespace

import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from torch import nn

CLASSES = ('road', 'car', 'rider')


class Recorder:
    """Visualizer stand-in: records ``add_scalars``."""

    def __init__(self):
        self.scalars = []

    def add_scalars(self, values, step=0, **kwargs):
        self.scalars.append((step, dict(values)))


class TeacherStub(nn.Module):
    """A teacher whose prediction is ``label`` for every image."""

    def __init__(self, label: torch.Tensor):
        super().__init__()
        self.label = label

    def predict(self, inputs, samples):
        for s in samples:
            s.pred_sem_seg = PixelData(data=self.label[None].clone())
        return samples


class ModelStub(nn.Module):
    """num_classes, an identity data preprocessor and optionally a teacher."""

    def __init__(self, teacher=None):
        super().__init__()
        self.num_classes = len(CLASSES)
        self.weight = nn.Parameter(torch.zeros(1))
        self.teacher = teacher

    def data_preprocessor(self, data, training=False):
        return dict(inputs=None, data_samples=data['data_samples'])


def make_runner(work_dir: str, stats_root: str = None, teacher=None,
                max_iters: int = 100, name: str = 'health'):
    """The stand-in runner; ``stats_root``: the source root named by the
    config (a UDA training set)."""
    cfg = Config(dict(train_dataloader=dict(dataset=dict(
        type='UDADataset', source=dict(data_root=stats_root or work_dir)))))
    return SimpleNamespace(
        model=ModelStub(teacher), cfg=cfg, iter=0, max_iters=max_iters,
        message_hub=MessageHub.get_instance(name), visualizer=Recorder(),
        log_dir=work_dir,
        val_dataloader=SimpleNamespace(dataset=SimpleNamespace(
            metainfo=dict(classes=CLASSES))))


def write_source_stats(root: str, counts: dict) -> None:
    """A ``sample_class_stats.json`` with one entry of ``counts``."""
    entry = {'file': 'l.png'}
    entry.update({str(k): v for k, v in counts.items()})
    with open(osp.join(root, 'sample_class_stats.json'), 'w') as f:
        json.dump([entry], f)


def prediction(label: torch.Tensor, confidence: float = 0.9):
    """A student output: ``label`` (H, W) as pred_sem_seg, and logits
    whose softmax puts ``confidence`` on the label, the rest uniformly."""
    c = len(CLASSES)
    probs = torch.full((c, ) + label.shape, (1 - confidence) / (c - 1))
    probs.scatter_(0, label[None], confidence)
    s = SegDataSample(metainfo=dict(img_shape=label.shape))
    s.seg_logits = PixelData(data=probs.log())
    s.pred_sem_seg = PixelData(data=label[None].clone())
    return s


def feed(hook, runner, pseudo_weights, val_labels, start_iter=0):
    """Train iterations with these ``pseudo_weight`` values, then one
    validation over ``val_labels`` (one image each); returns the entry."""
    for i, pw in enumerate(pseudo_weights):
        runner.iter = start_iter + i
        hook.after_train_iter(runner, i, None,
                              dict(pseudo_weight=torch.tensor(pw)))
    runner.iter = start_iter + len(pseudo_weights)
    hook.before_val_epoch(runner)
    for i, lbl in enumerate(val_labels):
        out = [prediction(lbl)]
        hook.after_val_iter(runner, i, dict(data_samples=out), out)
    hook.after_val_epoch(runner, {})
    return hook.history[-1]
