from .bad_sample_hook import BadSampleHook
from .ema_teacher_hook import EMATeacherHook
from .matmul_precision_hook import MatmulPrecisionHook
from .nonfinite_guard_hook import NonFiniteGuardHook
from .preemption_hook import PreemptionHook
from .preflight_check_hook import PreflightCheckHook
from .random_state_hook import RandomStateHook
from .safe_checkpoint_hook import SafeCheckpointHook
from .self_training_health_hook import SelfTrainingHealthHook
from .uda_visualization_hook import UDAVisualizationHook

__all__ = [
    'BadSampleHook', 'EMATeacherHook', 'MatmulPrecisionHook',
    'NonFiniteGuardHook', 'PreemptionHook', 'PreflightCheckHook',
    'RandomStateHook', 'SafeCheckpointHook', 'SelfTrainingHealthHook',
    'UDAVisualizationHook'
]
