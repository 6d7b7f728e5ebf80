from .warmup_poly_lr import WarmupPolyLR, WarmupPolyParamScheduler

__all__ = ['WarmupPolyLR', 'WarmupPolyParamScheduler']
