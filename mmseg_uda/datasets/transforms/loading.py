"""Loading transforms that fail loudly, naming the file."""
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS


def _checked_image_load(load, results: dict):
    """``load(results)`` (an image loading transform), raising ``OSError``
    naming the file when it fails or decodes nothing."""
    filename = results['img_path']
    try:
        out = load(results)
    except Exception as e:  # noqa: BLE001
        raise OSError(f'cannot load image file {filename!r}: '
                      f'{type(e).__name__}: {e}') from e
    if out is not None and (out.get('img') is None
                            or np.asarray(out['img']).size == 0):
        raise OSError(f'cannot decode image file {filename!r}')
    return out


def read_image(path: str, loader=None) -> np.ndarray:
    """The image ``path`` decoded as training decodes it: by ``loader``,
    the image loading transform of the dataset's pipeline (mmcv's
    ``LoadImageFromFile`` or a subclass: its backend, ``imdecode_backend``
    and ``color_type``), or mmcv's defaults (OpenCV, colour) as the zoo's
    pipelines use. The checks before training and the converters use it,
    so that a file they pass is a file training can read (a truncated JPEG
    that ``cv2.imread`` decodes partly but mmcv's decoding refuses is
    refused by both).

    Raises:
        OSError: naming the file when it cannot be read or decoded.
    """
    out = _checked_image_load((loader or LoadImageFromFile()).transform,
                              dict(img_path=path))
    if out is None:  # a loader with ignore_empty=True
        raise OSError(f'cannot decode image file {path!r}')
    return out['img']


@TRANSFORMS.register_module()
class LoadCheckedImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` raising ``OSError`` naming the file when an
    image is missing, corrupt or blank-decoded (mmcv returns ``None`` or an
    anonymous decoder error)."""

    def transform(self, results: dict) -> dict:
        return _checked_image_load(super().transform, results)


@TRANSFORMS.register_module()
class LoadCheckedAnnotations(LoadAnnotations):
    """mmseg ``LoadAnnotations`` that raises naming the label file when it
    cannot be decoded or when its size differs from the loaded image's
    (``results['img']``, so put it after the image loading).

    Without a ``seg_map_path`` key (inference on a bare image through
    ``mmseg.apis.inference_model``, which strips only mmseg's own
    ``LoadAnnotations`` from the test pipeline) it loads nothing; a dataset
    entry whose ``seg_map_path`` is None still fails, naming it.
    """

    def _load_seg_map(self, results: dict) -> None:
        if 'seg_map_path' not in results:
            return
        path = results.get('seg_map_path')
        try:
            super()._load_seg_map(results)
        except Exception as e:  # noqa: BLE001
            raise OSError(f'cannot load label file {path!r}: '
                          f'{type(e).__name__}: {e}') from e
        label = results['gt_seg_map']
        img = results.get('img')
        if img is not None and tuple(label.shape[:2]) != tuple(
                img.shape[:2]):
            raise ValueError(
                f'label file {path!r} has size {label.shape[1]}x'
                f'{label.shape[0]} but its image '
                f'{results.get("img_path")!r} has size {img.shape[1]}x'
                f'{img.shape[0]} (WxH); fix or exclude the sample')
