"""ClassMix masks at the boundaries: the ignore label exactly, an ignore
index of 0, odd class counts, an image with no candidate class, and the
highest label of the table."""
import pytest
import torch

from mmseg_uda.models.utils import classmix_masks
from mmseg_uda.models.utils.classmix import mix


def _chosen(labels, mask):
    """The set of classes under the mask of each image (each class must be
    either wholly pasted or not at all)."""
    out = []
    for lab, m in zip(labels[:, 0], mask[:, 0]):
        chosen = set()
        for c in lab.unique().tolist():
            values = m[lab == c].unique().tolist()
            assert values in ([0.0], [1.0]), (c, values)
            if values == [1.0]:
                chosen.add(c)
        out.append(chosen)
    return out


def test_per_image_candidates_leave_out_exactly_the_ignore_label():
    """Per image, classes {3, 254, 255} with ignore 255: the candidates are
    {3, 254} and 1 of them is pasted each draw; over the draws both occur,
    255 never. Rules out ``< 255`` vs ``<= 255`` slips that drop the last
    valid label (254) or keep the ignore one."""
    labels = torch.tensor([[[3, 3, 254, 255]]])[:, None]
    gen = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(20):
        (chosen,) = _chosen(labels, classmix_masks(
            labels, per_image=True, generator=gen))
        assert len(chosen) == 1 and 255 not in chosen
        seen |= chosen
    assert seen == {3, 254}


def test_an_ignore_index_of_0_is_left_out():
    """``ignore_index=0`` (0, not "no ignore index"): class 0 is never
    pasted; 1 of the other classes {1, 2} is. Rules out a check
    ``0 < ignore_index`` (or a truthiness test) that keeps 0."""
    labels = torch.tensor([[[0, 0, 1, 2]]])[:, None]
    gen = torch.Generator().manual_seed(0)
    for _ in range(10):
        (chosen,) = _chosen(labels, classmix_masks(
            labels, per_image=True, ignore_index=0, generator=gen))
        assert len(chosen) == 1 and 0 not in chosen


@pytest.mark.parametrize('classes,n', [([5], 1), ([1, 4, 7], 2),
                                       ([0, 1, 2, 3, 6], 3)])
def test_ceil_half_of_odd_class_counts(classes, n):
    """1, 3 and 5 candidate classes: ``ceil(n / 2)`` = 1, 2, 3 are pasted.
    Rules out ``n // 2`` (0 of a single class) and ``(n + 2) // 2``."""
    labels = torch.tensor(classes * 2)[None, None, None]
    gen = torch.Generator().manual_seed(1)
    for _ in range(5):
        (chosen,) = _chosen(labels, classmix_masks(
            labels, per_image=True, generator=gen))
        assert len(chosen) == n


def test_an_image_of_only_ignore_pastes_nothing():
    """Per image, an image whose pixels are all 255 next to one with two
    classes: its mask is all zeros (no candidate), the other gets 1 class.
    Rules out the ignore label kept as a candidate of an image that has
    nothing else."""
    labels = torch.tensor([[[255, 255, 255, 255]], [[1, 1, 2, 2]]])[:, None]
    mask = classmix_masks(labels, per_image=True,
                          generator=torch.Generator().manual_seed(0))
    assert mask[0].sum() == 0
    assert len(_chosen(labels, mask)[1]) == 1


def test_the_last_label_of_the_table_is_a_candidate():
    """``num_labels=8`` with labels up to 7 (the last entry of the table),
    per image without ignore in range: class 7 is pasted in some draws.
    Rules out an off-by-one table (``num_labels - 1`` columns)."""
    labels = torch.tensor([[[6, 7]]])[:, None]
    gen = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(10):
        (chosen,) = _chosen(labels, classmix_masks(
            labels, per_image=True, generator=gen, num_labels=8))
        seen |= chosen
    assert seen == {6, 7}


def test_mix_takes_source_where_the_mask_is_one():
    """An irregular mask, different source and target, uint8 images: the
    result is source on the mask, target elsewhere, in the source dtype.
    Rules out source and target swapped and ``mask`` vs ``1 - mask``."""
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    source = torch.full((1, 3, 2, 2), 200, dtype=torch.uint8)
    target = torch.full((1, 3, 2, 2), 7, dtype=torch.uint8)
    out = mix(mask, source, target)
    assert out.dtype == torch.uint8
    expected = torch.tensor([[200, 7], [7, 200]], dtype=torch.uint8)
    assert torch.equal(out, expected.expand(1, 3, 2, 2))


def test_masks_follow_the_generator_and_keep_the_layout():
    """Two calls with equally seeded generators give the same masks, of
    shape ``(B, 1, H, W)`` (H = 2, W = 3), and leave the global RNG alone.
    Rules out the generator not passed to the draw and a mask laid out as
    ``(B, H, 1, W)``."""
    labels = torch.tensor([[[0, 1, 2], [3, 4, 5]]] * 2)[:, None]
    torch.manual_seed(0)
    after_none = torch.rand(1)
    torch.manual_seed(0)
    masks = [classmix_masks(labels, per_image=True,
                            generator=torch.Generator().manual_seed(5))
             for _ in range(2)]
    assert torch.rand(1) == after_none
    assert masks[0].shape == (2, 1, 2, 3)
    assert torch.equal(masks[0], masks[1])
