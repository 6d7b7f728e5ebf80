from . import (  # noqa: F401
               data_preprocessors,
               decode_heads,
               losses,
               segmentors,
               uda,
               utils,
               wrappers,
)
