"""Render what a (UDA) checkpoint sees on given images: the prediction, the
EMA teacher's pseudo-label and confidence (UDA checkpoints with a teacher)
and, for HRDA segmentors, the learned scale attention.

Used by ``tools/analysis_tools/visualize_uda.py``; everything here works on
a model built by :func:`mmseg.apis.init_model`.
"""
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmseg.models.utils import resize

from .vis_utils import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_PALETTE,
    colorize,
    compose_grid,
    heatmap,
    label_classes,
)

DEFAULT_THRESHOLD = 0.968  # DACS's pseudo-label confidence threshold


def test_pipeline(cfg) -> Compose:
    """The config's test pipeline without annotation loading."""
    pipeline = cfg.get('test_pipeline') or \
        cfg.test_dataloader.dataset.pipeline
    return Compose([
        t for t in pipeline
        if 'Annotation' not in str(t.get('type', ''))
    ])


def unwrap_segmentor(model, which: str = 'predict'):
    """The plain segmentor inside a UDA model: ``'predict'`` (what
    ``predict`` uses), ``'student'`` or ``'teacher'``; a plain segmentor is
    returned as is."""
    if not hasattr(model, 'student'):
        return model
    if which == 'predict':
        return model.predict_model
    seg = getattr(model, which)
    if seg is None:
        raise ValueError(f'the model has no {which}')
    return getattr(seg, 'module', seg)


def is_hrda(segmentor) -> bool:
    head = getattr(segmentor, 'decode_head', None)
    return hasattr(segmentor, 'scales') and hasattr(head, 'fuse')


@torch.no_grad()
def scale_attention(segmentor, inputs: torch.Tensor,
                    label: Optional[torch.Tensor] = None) -> torch.Tensor:
    """HRDA's scale attention (weight of the detail prediction) over the
    whole preprocessed ``inputs`` ``(B, 3, H, W)``, at input resolution:
    ``(B, H, W)`` in [0, 1]. With class-wise attention, the attention of the
    class ``label`` ``(B, H, W)`` (e.g. the prediction) at each pixel, or the
    mean over classes without ``label``."""
    head = segmentor.decode_head
    lr = resize(inputs, scale_factor=segmentor.scales[0], mode='bilinear',
                align_corners=segmentor.align_corners)
    if head.scale_attention is None:  # fixed attention (ablation)
        return inputs.new_full((inputs.shape[0], *inputs.shape[2:]),
                               float(head.fixed_attention))
    att = head.get_scale_attention(segmentor.extract_feat(lr))
    att = resize(att, size=inputs.shape[2:], mode='bilinear',
                 align_corners=segmentor.align_corners)
    if att.shape[1] == 1:
        return att[:, 0]
    if label is None:
        return att.mean(dim=1)
    return att.gather(1, label[:, None].long().clamp(0, att.shape[1] - 1))[:,
                                                                           0]


def _crop_to_image(x: torch.Tensor, meta: dict) -> torch.Tensor:
    """Remove the preprocessor's padding and resize to the original
    image: ``(C, H, W)`` -> ``(C, h0, w0)``."""
    h, w = meta['img_shape'][:2]
    x = x[:, :h, :w]
    ori = meta['ori_shape'][:2]
    if tuple(x.shape[1:]) != tuple(ori):
        mode = 'nearest' if not x.is_floating_point() else 'bilinear'
        x = torch.nn.functional.interpolate(
            x[None].float(), size=ori, mode=mode)[0].to(x.dtype)
    return x


@torch.no_grad()
def analyse_image(model, pipeline: Compose, img_path: str,
                  threshold: Optional[float] = None) -> Dict:
    """Everything drawn for one image, at its original resolution:
    ``image`` (RGB), ``pred`` (labels), and when available ``pseudo_label``,
    ``confidence`` (teacher max softmax), ``pseudo_weight`` (DACS's weight:
    the fraction of pixels with confidence >= threshold), ``attention``."""
    import cv2
    data = pseudo_collate([pipeline(dict(img_path=img_path))])
    sample = model.test_step(data)[0]
    out = dict(image=np.ascontiguousarray(cv2.imread(img_path)[..., ::-1]),
               pred=sample.pred_sem_seg.data[0].cpu().numpy())
    proc = model.data_preprocessor(data, False)
    inputs, metas = proc['inputs'], [
        s.metainfo for s in proc['data_samples']
    ]
    teacher = getattr(model, 'teacher', None)
    if teacher is not None:
        if threshold is None:
            threshold = float(
                getattr(model, 'pseudo_threshold', DEFAULT_THRESHOLD))
        logits = unwrap_segmentor(model, 'teacher').encode_decode(
            inputs, metas)
        prob, label = torch.softmax(logits, dim=1).max(dim=1)
        prob = _crop_to_image(prob, metas[0])
        label = _crop_to_image(label, metas[0])
        out.update(
            pseudo_label=label[0].cpu().numpy(),
            confidence=prob[0].cpu().numpy(), threshold=threshold,
            pseudo_weight=float((prob >= threshold).float().mean()))
    seg = unwrap_segmentor(model, 'predict')
    if is_hrda(seg):
        logits = seg.encode_decode(inputs, metas)
        att = scale_attention(seg, inputs, logits.argmax(dim=1))
        out['attention'] = _crop_to_image(att, metas[0])[0].cpu().numpy()
    return out


def render(result: Dict, name: str = '',
           dataset_meta: Optional[Dict] = None) -> Dict[str, np.ndarray]:
    """RGB images of one :func:`analyse_image` result: ``pred``, ``gt``
    (when the result has the ground truth),
    ``pseudo_label`` (pixels below the threshold darkened), ``confidence``,
    ``attention`` and ``panel`` (all of them side by side, with titles and a
    class legend), in the colours and with the class names of
    ``dataset_meta`` (``classes``, ``palette``; default: Cityscapes)."""
    meta = dataset_meta or {}
    classes = tuple(meta.get('classes') or CITYSCAPES_CLASSES)
    palette = np.asarray(meta.get('palette') or CITYSCAPES_PALETTE,
                         dtype=np.uint8)

    def paint(label):
        return colorize(label, palette)

    images = {'pred': paint(result['pred'])}
    titles, panels = ['image', 'prediction'], [result['image'],
                                                images['pred']]
    labels = [result['pred']]
    if 'gt' in result:
        images['gt'] = paint(result['gt'])
        titles.append('ground truth')
        panels.append(images['gt'])
        labels.append(result['gt'])
    if 'pseudo_label' in result:
        pl = paint(result['pseudo_label'])
        low = result['confidence'] < result['threshold']
        pl[low] = (pl[low] * 0.35).astype(np.uint8)
        images['pseudo_label'] = pl
        images['confidence'] = heatmap(result['confidence'])
        labels.append(result['pseudo_label'])
        titles += ['pseudo-label (dark: p<%.3g)' % result['threshold'],
                   'confidence, weight %.2f' % result['pseudo_weight']]
        panels += [images['pseudo_label'], images['confidence']]
    if 'attention' in result:
        images['attention'] = heatmap(result['attention'])
        titles.append('scale attention (HR)')
        panels.append(images['attention'])
    images['panel'] = compose_grid(
        [panels], titles,
        legend=label_classes(*labels, num_classes=len(classes)),
        classes=classes, palette=palette)
    return images


def list_images(paths: List[str], max_images: Optional[int] = None
                ) -> List[str]:
    """Image files of ``paths`` (files, or folders searched recursively)."""
    exts = ('.png', '.jpg', '.jpeg', '.bmp')
    files = []
    for p in paths:
        if osp.isdir(p):
            import glob
            files += sorted(
                f for f in glob.glob(osp.join(p, '**', '*'), recursive=True)
                if f.lower().endswith(exts))
        elif osp.isfile(p):
            files.append(p)
        else:
            raise FileNotFoundError(p)
    return files[:max_images] if max_images else files


def val_samples(cfg) -> Dict[str, dict]:
    """Data infos of the config's validation set, by normalised image path
    (``img_path``, ``seg_map_path`` when it has labels, ...)."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    dataset = DATASETS.build(cfg.val_dataloader.dataset)
    infos = (dataset.get_data_info(i) for i in range(len(dataset)))
    return {osp.normpath(info['img_path']): info for info in infos}
