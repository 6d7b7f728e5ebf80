"""ClassMix's class choice (the vectorised ``classmix_masks``): which
classes are candidates and how the choice is drawn per image, on labels
where a wrong implementation gives a different distribution."""
import torch

from mmseg_uda.models.utils import classmix_masks

# image 0 has classes {0, 1}, image 1 {2, 255}: the batch has 4 classes
LABELS = torch.tensor([[[0, 0, 1, 1]], [[2, 2, 255, 255]]])[:, None]


def test_batch_wide_candidates_reach_every_count_of_an_images_classes():
    """Reference semantics (``per_image=False``): 2 of the batch's 4 classes
    {0, 1, 2, 255} are chosen per image, so image 0 gets 0, 1 or 2 of its
    own classes (probabilities 1/6, 4/6, 1/6). Rules out candidates taken
    per image (always exactly 1 of image 0's 2 classes) and the ignore label
    dropped from the batch-wide candidates (then 2 of {0, 1, 2}: never 0 of
    image 0's classes)."""
    gen = torch.Generator().manual_seed(0)
    counts = set()
    for _ in range(60):
        mask = classmix_masks(LABELS, generator=gen)[0, 0, 0]
        counts.add(int(mask[0] + mask[2]))  # one pixel per class
    assert counts == {0, 1, 2}


def test_each_image_draws_its_own_classes():
    """Two images with the same 4 classes: each draws its own 2 of 4
    (the reference runs one ``randperm`` per image), so their masks differ
    in some draws. Rules out one random draw shared by the batch."""
    labels = torch.tensor([[[0, 1, 2, 3]], [[0, 1, 2, 3]]])[:, None]
    gen = torch.Generator().manual_seed(0)
    differ = 0
    for _ in range(20):
        mask = classmix_masks(labels, per_image=True, generator=gen)
        assert mask.sum(dim=(1, 2, 3)).tolist() == [2.0, 2.0]
        differ += int(not torch.equal(mask[0], mask[1]))
    assert differ > 0
