"""``acc_seg`` of the plugin's heads (``pixel_accuracy``, mmseg's
``accuracy`` without boolean indexing)."""
# ruff: noqa: I001  (mmseg_uda first: it installs the mmcv-lite shim)
import mmseg_uda  # noqa: F401
import pytest
import torch
from mmseg.models.losses import accuracy

from mmseg_uda.models.decode_heads.pixel_weighted import pixel_accuracy


@pytest.mark.parametrize('ignore_index,expected', [(255, 50.0), (0, 0.0)])
def test_accuracy_over_non_ignored_pixels_equals_mmseg(ignore_index,
                                                       expected):
    """Predictions all class 0 on labels ``[0, 1, 255, 255]``: with ignore
    255, 1 of 2 valid pixels is right (50 %); with ignore 0 the one right
    pixel is the ignored one (0 of 3). Rules out dividing by all pixels
    (25 %) and counting an ignored pixel that is predicted "right" (33 %,
    only visible when the ignore index is a class the head can predict)."""
    logits = torch.zeros(1, 3, 1, 4)
    logits[0, 0] = 5.0  # argmax 0 everywhere
    label = torch.tensor([[[0, 1, 255, 255]]])
    got = pixel_accuracy(logits, label, ignore_index)
    torch.testing.assert_close(got, torch.tensor([expected]))
    torch.testing.assert_close(
        got, accuracy(logits, label, ignore_index=ignore_index))
