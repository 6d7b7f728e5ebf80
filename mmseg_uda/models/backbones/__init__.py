from .mit_ref import MixVisionTransformerRef

__all__ = ['MixVisionTransformerRef']
