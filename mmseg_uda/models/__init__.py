from . import (  # noqa: F401
               data_preprocessors,
               decode_heads,
               discriminators,
               losses,
               segmentors,
               uda,
               utils,
               wrappers,
)
