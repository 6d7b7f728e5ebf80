"""DDP wrapper of UDA models."""
from mmengine.model import MMSeparateDistributedDataParallel

# mmengine's root registry, not mmseg's: Runner.wrap_model looks the type up
# with ``MODEL_WRAPPERS.get`` on the root, which never searches children.
from mmengine.registry import MODEL_WRAPPERS


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

    Args:
        module: the UDA model.
        **kwargs: as ``MMSeparateDistributedDataParallel`` (``device_ids=None``
            on CPU/gloo).
    """

    def __init__(self, module, broadcast_buffers: bool = False,
                 find_unused_parameters: bool = False, **kwargs):
        super().__init__(
            module,
            broadcast_buffers=broadcast_buffers,
            find_unused_parameters=find_unused_parameters,
            **kwargs)
