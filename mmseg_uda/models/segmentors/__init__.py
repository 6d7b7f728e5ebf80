from .hrda_encoder_decoder import HRDAEncoderDecoder, get_crop_box, slide_boxes
from .seg_tta import SegTTASoftmaxModel

__all__ = [
    'HRDAEncoderDecoder', 'SegTTASoftmaxModel', 'get_crop_box', 'slide_boxes'
]
