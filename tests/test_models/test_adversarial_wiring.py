"""Multi-level AdaptSegNet: the auxiliary level's wiring, checked number by
number (the main level is checked in ``test_adversarial.py``; the per-stage
all-reduces in ``test_dacs_allreduce.py``)."""
import torch
import torch.nn.functional as F

from tests.test_models.tiny_models import (
    build_adversarial_model as build_model,
)
from tests.test_models.tiny_models import (
    build_adversarial_optim as build_optim,
)
from tests.test_models.tiny_models import uda_batch


def test_aux_level_judges_the_aux_output_with_its_own_weight():
    """The auxiliary discriminator sees the softmax of the auxiliary head's
    output upsampled to the input size, and the generator's auxiliary loss
    is ``lambda_adv_aux`` (0.0002, not the main level's 0.001) times the GAN
    loss of that output against the source label; in the discriminator step
    it sees the same (detached) target output against the target label.

    Rules out the main level's weight used for both levels, the auxiliary
    discriminator fed the main output, and the auxiliary level left out of
    the discriminator step.
    """
    model = build_model(aux=True, lambda_adv=0.001, lambda_adv_aux=0.0002)
    optim = build_optim(model)
    calls = []
    model.aux_discriminator.register_forward_hook(
        lambda module, args, out: calls.append(
            (args[0].detach().clone(), out.detach().clone())))
    batch = uda_batch(n=2, size=32)
    tgt_img = model.data_preprocessor(batch, True)['target']['inputs']
    with torch.no_grad():
        # train-mode BN: batch statistics, so the step's target forward
        # gives the same output
        aux_logits = model.student.auxiliary_head(
            model.student.extract_feat(tgt_img))
        main_logits = model.student._forward(tgt_img)

    def upsampled_softmax(logits):
        return torch.softmax(F.interpolate(
            logits, size=(32, 32), mode='bilinear', align_corners=False),
            dim=1)

    expected = upsampled_softmax(aux_logits)
    assert not torch.allclose(expected, upsampled_softmax(main_logits),
                              atol=1e-3)  # the two levels are told apart
    logs = model.train_step(batch, optim)

    assert len(calls) == 3  # generator, D source, D target
    gen_in, gen_out = calls[0]
    torch.testing.assert_close(gen_in, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(
        logs['tgt.loss_adv_aux'], 0.0002 * model.adv_loss(gen_out, 0.0),
        rtol=1e-4, atol=1e-9)
    tgt_in, tgt_out = calls[2]
    torch.testing.assert_close(tgt_in, gen_in)
    torch.testing.assert_close(logs['disc.tgt_loss_aux'],
                               model.adv_loss(tgt_out, 1.0) / 2)
