"""DDP wrapper of UDA models."""
from mmengine.model import MMSeparateDistributedDataParallel

# mmengine's root registry, not mmseg's: Runner.wrap_model looks the type up
# with ``MODEL_WRAPPERS.get`` on the root, which never searches children.
from mmengine.registry import MODEL_WRAPPERS

from ..utils.ddp import average_buffers


@MODEL_WRAPPERS.register_module()
class UDADistributedDataParallel(MMSeparateDistributedDataParallel):
    """Wrap each trainable child of a UDA model (the student, a
    discriminator) in its own DDP and call the model's own ``train_step``.

    Gap: ``MMDistributedDataParallel.train_step`` runs
    ``forward(mode='loss')`` plus one ``update_params`` itself, bypassing a
    model's ``train_step``, so multi-backward steps (DACS) and multi-optimizer
    steps (adversarial) need this wrapper. Frozen children (EMA teacher,
    ImageNet model) are not wrapped: they receive no gradient, and the EMA
    update is deterministic, so they stay identical across ranks.

    Buffers: each rank's BN layers update their running statistics from its
    own images (``broadcast_buffers=False``: DDP's broadcast would overwrite
    them with rank 0's before every forward, and the teacher is not
    wrapped at all). With ``sync_buffers`` the floating-point buffers of
    every module in training mode (student, teacher, discriminators) are
    averaged over the ranks after each training step
    (:func:`~mmseg_uda.models.utils.average_buffers`, one small coalesced
    all-reduce), so every rank holds the same buffers at all times: the
    checkpoint (rank 0's), validation on each rank's shard and the next
    step all see the same model.

    Args:
        module: the UDA model.
        sync_buffers (bool): average the buffers after each training step.
            Defaults to True.
        **kwargs: as ``MMSeparateDistributedDataParallel`` (``device_ids=None``
            on CPU/gloo).
    """

    def __init__(self, module, broadcast_buffers: bool = False,
                 find_unused_parameters: bool = False,
                 sync_buffers: bool = True, **kwargs):
        super().__init__(
            module,
            broadcast_buffers=broadcast_buffers,
            find_unused_parameters=find_unused_parameters,
            **kwargs)
        self.sync_buffers = sync_buffers

    def train_step(self, data, optim_wrapper):
        log_vars = self.module.train_step(data, optim_wrapper)
        if self.sync_buffers:
            average_buffers(self.module)
        return log_vars
