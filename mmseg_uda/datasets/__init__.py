from .acdc import (
    ACDC_CONDITIONS,
    ACDCDataset,
    DarkZurichUDADataset,
    acdc_condition,
)
from .checked_dataset import CheckedDatasetMixin, LabelValueError
from .folder import FolderSegDataset
from .gta import GTA5Dataset
from .rare_class_sampling import RareClassSampling, RCSStatsError
from .samplers import UDAIndex, UDASampler
from .synthia import SYNTHIA_13_CLASSES, SYNTHIA_16_CLASSES, SynthiaDataset
from .transforms import (
    GenerateValidPseudoMask,
    LoadCheckedAnnotations,
    LoadCheckedImageFromFile,
    PackUDAInputs,
)
from .uda_dataset import UDADataset, seeded_global_rngs

__all__ = [
    'ACDC_CONDITIONS', 'ACDCDataset', 'acdc_condition',
    'CheckedDatasetMixin', 'DarkZurichUDADataset',
    'FolderSegDataset', 'LabelValueError', 'GTA5Dataset', 'SynthiaDataset',
    'SYNTHIA_13_CLASSES', 'SYNTHIA_16_CLASSES', 'RareClassSampling',
    'RCSStatsError', 'UDAIndex', 'UDASampler', 'UDADataset',
    'seeded_global_rngs', 'GenerateValidPseudoMask', 'LoadCheckedAnnotations',
    'LoadCheckedImageFromFile', 'PackUDAInputs'
]
