from . import (  # noqa: F401
               backbones,
               data_preprocessors,
               decode_heads,
               discriminators,
               losses,
               segmentors,
               uda,
               utils,
               wrappers,
)
